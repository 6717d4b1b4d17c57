output "file_system_id" {
  description = "Id of the file system (file_system_id of a service's efs_volumes entry)."
  value       = aws_efs_file_system.this.id
}

output "file_system_arn" {
  description = "ARN of the file system (for IAM policies of tasks that mount it with IAM authorization)."
  value       = aws_efs_file_system.this.arn
}

output "security_group_id" {
  description = "Security group of the mount targets; the services' egress on TCP 2049 must reach it."
  value       = aws_security_group.this.id
}

output "access_point_ids" {
  description = "Map of access_points key to its access point id (access_point_id of an efs_volumes entry)."
  value       = { for k, ap in aws_efs_access_point.this : k => ap.id }
}

output "mount_target_ids" {
  description = "Mount targets, one per subnet, in the order of subnet_ids."
  value       = aws_efs_mount_target.this[*].id
}
