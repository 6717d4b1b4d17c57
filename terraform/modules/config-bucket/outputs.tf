output "bucket_name" {
  description = "Name of the config bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the config bucket."
  value       = aws_s3_bucket.this.arn
}

output "read_policy_json" {
  description = "Policy letting a task role read the prefix (pass it in the roles module's task_policies)."
  value       = data.aws_iam_policy_document.read.json
}
