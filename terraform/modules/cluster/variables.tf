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
  description = "How long CloudWatch keeps the logs of the log groups created here."
  type        = number
  default     = 30
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

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
