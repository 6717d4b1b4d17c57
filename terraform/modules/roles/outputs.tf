output "execution_role_arn" {
  description = "ARN of the task execution role (executionRoleArn of task definitions)."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "ARN of the task role (taskRoleArn of task definitions)."
  value       = aws_iam_role.task.arn
}
