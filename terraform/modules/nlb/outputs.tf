output "dns_name" {
  description = "DNS name of the network load balancer."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Route 53 zone of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "arn" {
  description = "ARN of the network load balancer."
  value       = aws_lb.this.arn
}

output "security_group_id" {
  description = "Security group of the load balancer; services allow traffic from it."
  value       = aws_security_group.lb.id
}

output "target_group_arns" {
  description = "Map of listener key to its `ip` target group ARN (target_group_arn of a load_balanced service)."
  value       = { for k, tg in aws_lb_target_group.listener : k => tg.arn }
}
