variable "name" {
  description = "ECS service name, also the container name."
  type        = string
}

variable "kind" {
  description = "load_balanced (behind a target group), discoverable (Cloud Map DNS name) or generic."
  type        = string
  default     = "generic"
  validation {
    condition     = contains(["load_balanced", "discoverable", "generic"], var.kind)
    error_message = "kind must be load_balanced, discoverable or generic."
  }
}

variable "cluster_arn" {
  description = "Cluster the service runs in."
  type        = string
}

variable "region" {
  description = "Region, for the awslogs log driver."
  type        = string
}

variable "family" {
  description = "Task definition family; the service name when null."
  type        = string
  default     = null
}

variable "image" {
  description = "Container image of the first task definition (wharf deploys later revisions when wharf_deploys)."
  type        = string
}

variable "command" {
  description = "Command of the container; the image's when null."
  type        = list(string)
  default     = null
}

variable "environment" {
  description = "Plain environment variables of the container."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Secret environment variables: name => SSM parameter or Secrets Manager ARN."
  type        = map(string)
  default     = {}
}

variable "container_overrides" {
  description = "Extra container-definition keys merged into the container (healthCheck, ulimits, ...)."
  type        = any
  default     = {}
}

variable "cpu" {
  description = "Task CPU units (256, 512, 1024, ...)."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory in MiB, valid for the chosen cpu on Fargate."
  type        = number
  default     = 512
}

variable "launch_type" {
  description = "FARGATE or EC2."
  type        = string
  default     = "FARGATE"
  validation {
    condition     = contains(["FARGATE", "EC2"], var.launch_type)
    error_message = "launch_type must be FARGATE or EC2."
  }
}

variable "platform_version" {
  description = "Fargate platform version."
  type        = string
  default     = "LATEST"
}

variable "desired_count" {
  description = "Number of tasks (at creation only when wharf_deploys)."
  type        = number
  default     = 1
}

variable "minimum_healthy_percent" {
  description = "Lower limit of running tasks during a deployment, in percent of desired_count."
  type        = number
  default     = 100
}

variable "maximum_percent" {
  description = "Upper limit of running tasks during a deployment, in percent of desired_count."
  type        = number
  default     = 200
}

variable "rollback_on_failure" {
  description = "Let the deployment circuit breaker roll back a failed deployment."
  type        = bool
  default     = true
}

variable "wharf_deploys" {
  description = "wharf owns task definition revisions and desired_count (Terraform ignores their changes)."
  type        = bool
  default     = true
}

variable "execution_role_arn" {
  description = "Task execution role (pulls images, reads secrets, writes logs)."
  type        = string
}

variable "task_role_arn" {
  description = "Task role the application runs with (needed for ECS Exec)."
  type        = string
  default     = null
}

variable "enable_execute_command" {
  description = "Allow ECS Exec into the service's containers (the task role needs the ssmmessages permissions)."
  type        = bool
  default     = true
}

variable "subnet_ids" {
  description = "Subnets of the tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give tasks a public IP (public subnets without a NAT gateway)."
  type        = bool
  default     = false
}

variable "log_group_name" {
  description = "CloudWatch log group of the container."
  type        = string
}

variable "container_port" {
  description = "Port the container listens on (load_balanced services)."
  type        = number
  default     = null
}

variable "target_group_arn" {
  description = "Target group of a load_balanced service: the alb module's target_group_arns[route] or the nlb module's target_group_arns[listener] (both `ip` groups; the group's port is container_port)."
  type        = string
  default     = null
}

variable "health_check_grace_period" {
  description = "Seconds the load balancer's health checks are ignored after a task starts."
  type        = number
  default     = 60
}

variable "discovery_namespace_id" {
  description = "Cloud Map namespace of a discoverable service (the cluster module's discovery_namespace_id); the service is then <name>.<namespace> in DNS."
  type        = string
  default     = null
}

variable "efs_volumes" {
  description = <<-EOT
    EFS volumes of the task, by volume name; each is mounted in the container:
      file_system_id     the file system (the efs module's file_system_id)
      access_point_id    optional access point (the efs module's access_point_ids[...]); its directory is then the root
      root_directory     directory of the file system to mount when there is no access point ("/" by default)
      container_path     where the container sees it (absolute path)
      read_only          mount read-only (false by default)
      transit_encryption TLS between task and file system (true by default; required with an access point or iam)
      iam                authorize with the task role (false by default; the role needs elasticfilesystem:ClientMount, and ClientWrite unless read_only)
  EOT
  type = map(object({
    file_system_id     = string
    access_point_id    = optional(string)
    root_directory     = optional(string, "/")
    container_path     = string
    read_only          = optional(bool, false)
    transit_encryption = optional(bool, true)
    iam                = optional(bool, false)
  }))
  default = {}
  validation {
    condition     = alltrue([for v in values(var.efs_volumes) : startswith(v.container_path, "/") && startswith(v.root_directory, "/")])
    error_message = "efs_volumes: container_path and root_directory must be absolute paths (start with /)."
  }
  validation {
    condition     = alltrue([for v in values(var.efs_volumes) : v.transit_encryption || (v.access_point_id == null && !v.iam)])
    error_message = "efs_volumes: an access point or iam = true needs transit_encryption = true (ECS refuses them without TLS)."
  }
  validation {
    condition     = alltrue([for v in values(var.efs_volumes) : v.access_point_id == null || v.root_directory == "/"])
    error_message = "efs_volumes: with an access_point_id, leave root_directory out (the access point's path is the root); set the directory on the access point instead."
  }
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
