output "service_name" {
  description = "ECS service name (an entry of the stack's services output)."
  value       = var.name
}

output "task_definition_family" {
  description = "Task definition family (job_task_definition_family when the service is a job's template)."
  value       = aws_ecs_task_definition.this.family
}

output "task_definition_arn" {
  description = "The task definition Terraform registered (wharf deploys later revisions when wharf_deploys)."
  value       = aws_ecs_task_definition.this.arn
}

output "discovery_name" {
  description = "Cloud Map service name of a discoverable service, or null."
  value       = var.kind == "discoverable" ? aws_service_discovery_service.this[0].name : null
}
