output "capacity_provider_name" {
  description = "Name of the capacity provider (for a service's capacity_providers in wharf.toml)."
  value       = aws_ecs_capacity_provider.this.name
}

output "autoscaling_group_name" {
  description = "Name of the Auto Scaling group whose instances `wharf cluster roll` replaces."
  value       = aws_autoscaling_group.this.name
}

output "launch_template_id" {
  description = "ID of the launch template (a new version is what `wharf cluster roll --replace-with` rolls to)."
  value       = aws_launch_template.this.id
}

output "launch_template_version" {
  description = "Latest version of the launch template."
  value       = aws_launch_template.this.latest_version
}
