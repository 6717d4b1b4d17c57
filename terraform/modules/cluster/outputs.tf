output "cluster_name" {
  description = "Name of the ECS cluster (wharf reads the stack's cluster_name output)."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "log_group_names" {
  description = "Map of log_groups entry to the CloudWatch log group name."
  value       = { for k, g in aws_cloudwatch_log_group.service : k => g.name }
}

output "exec_log_group_name" {
  description = "Log group of ECS Exec sessions, or null when exec_logging is off."
  value       = var.exec_logging ? aws_cloudwatch_log_group.exec[0].name : null
}

output "discovery_namespace_id" {
  description = "Id of the Cloud Map namespace (discovery_namespace_id of discoverable services), or null without discovery_namespace."
  value       = var.discovery_namespace == null ? null : aws_service_discovery_private_dns_namespace.this[0].id
}

output "discovery_namespace_name" {
  description = "DNS name of the Cloud Map namespace, or null without discovery_namespace."
  value       = var.discovery_namespace == null ? null : aws_service_discovery_private_dns_namespace.this[0].name
}
