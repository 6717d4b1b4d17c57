output "dns_name" {
  description = "DNS name of the load balancer (for smoke-test URLs and DNS records)."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Route 53 zone of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "security_group_id" {
  description = "Security group of the load balancer; services allow traffic from it."
  value       = aws_security_group.lb.id
}

output "target_group_arns" {
  description = "Map of route key to its target group ARN."
  value       = { for k, tg in aws_lb_target_group.route : k => tg.arn }
}

output "alternate_target_group_arns" {
  description = "Map of blue_green route key to its second target group (wharf.toml: alternate_target_group_arn)."
  value       = { for k, tg in aws_lb_target_group.alternate : k => tg.arn }
}

output "production_listener_rule_arns" {
  description = "Map of blue_green route key to its rule on the routing listener (wharf.toml: production_listener_rule)."
  value       = { for k, r in aws_lb_listener_rule.blue_green : k => r.arn }
}

output "test_listener_rule_arns" {
  description = "Map of blue_green route key to its rule on the test listener (wharf.toml: test_listener_rule)."
  value       = { for k, r in aws_lb_listener_rule.test : k => r.arn }
}

output "ecs_load_balancers_role_arn" {
  description = "The ECS infrastructure role for load balancers when a route is blue_green (wharf.toml: role_arn), else null."
  value       = local.blue_green ? aws_iam_role.ecs_load_balancers[0].arn : null
}
