output "cluster_name" {
  description = "ECS cluster of the environment (wharf: cluster = \"{{ tf.cluster_name }}\")."
  value       = module.cluster.cluster_name
}

output "services" {
  description = "Service label => ECS service name; wharf watches these after `wharf apply`."
  value = {
    web    = module.web.service_name
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

output "execution_role_arn" {
  description = "Execution role for task definitions."
  value       = module.roles.execution_role_arn
}
