variable "name" {
  description = "Name of the ECS cluster (also the prefix of its log groups: /ecs/<name>/...)."
  type        = string
}

variable "container_insights" {
  description = "CloudWatch Container Insights for the cluster (on by default: per-task CPU, memory and network metrics)."
  type        = bool
  default     = true
}

variable "exec_logging" {
  description = "Log ECS Exec sessions to the CloudWatch log group /ecs/<name>/exec."
  type        = bool
  default     = true
}

variable "log_groups" {
  description = "Log groups to create for services and jobs, as /ecs/<name>/<entry>."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the services' and jobs' logs (the log_groups entries)."
  type        = number
  default     = 30
}

variable "exec_log_retention_days" {
  description = "Days CloudWatch keeps the ECS Exec audit log (/ecs/<name>/exec): a year by default, as audit trails usually must be."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key to encrypt log groups and ECS Exec sessions with; AWS-managed keys when null."
  type        = string
  default     = null
}

variable "capacity_providers" {
  description = "Capacity providers of the cluster; the first one is the default strategy."
  type        = list(string)
  default     = ["FARGATE", "FARGATE_SPOT"]
}

variable "discovery_namespace" {
  description = "DNS name of a Cloud Map private DNS namespace to create for discoverable services (e.g. \"shop-dev.internal\"); none when null. Needs vpc_id."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC the discovery namespace's private DNS zone belongs to (only with discovery_namespace)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
