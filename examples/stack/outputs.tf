output "cluster_name" {
  description = "ECS cluster of the environment (wharf: cluster = \"{{ tf.cluster_name }}\")."
  value       = module.cluster.cluster_name
}

output "services" {
  description = "Service label => ECS service name; wharf watches these after `wharf apply`."
  value = {
    web    = module.web.service_name
    admin  = module.admin.service_name
    api    = module.api.service_name
    search = module.search.service_name
    worker = module.worker.service_name
  }
}

output "job_task_definition_family" {
  description = "Task definition family one-off jobs run with (wharf run)."
  value       = module.web.task_definition_family
}

output "subnet_ids" {
  description = "Subnets of tasks and jobs."
  value       = var.private_subnet_ids
}

output "security_group" {
  description = "Security group of tasks and jobs."
  value       = aws_security_group.tasks.id
}

output "lb_dns_name" {
  description = "DNS name of the load balancer, for smoke tests."
  value       = module.alb.dns_name
}

output "api_dns_name" {
  description = "DNS name of the network load balancer in front of the api service (TCP 9000)."
  value       = module.nlb.dns_name
}

output "discovery_namespace" {
  description = "Cloud Map namespace of the discoverable services (search.<namespace>)."
  value       = module.cluster.discovery_namespace_name
}

output "file_system_id" {
  description = "EFS file system the web tasks mount."
  value       = module.files.file_system_id
}

output "access_point_ids" {
  description = "EFS access points of the file system (uploads), for task definitions wharf registers."
  value       = module.files.access_point_ids
}

output "execution_role_arn" {
  description = "Execution role for task definitions."
  value       = module.roles.execution_role_arn
}

output "task_role_arn" {
  description = "Task role for task definitions."
  value       = module.roles.task_role_arn
}
