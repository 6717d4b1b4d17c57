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
