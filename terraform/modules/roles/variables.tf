variable "app" {
  description = "App name, as in wharf.toml; parameters are read under /<app>/<env>/."
  type        = string
}

variable "env" {
  description = "Environment name, as in wharf.toml."
  type        = string
}

variable "kms_key_arns" {
  description = "Customer-managed KMS keys the app's SecureString parameters are encrypted with (none for the AWS-managed key)."
  type        = list(string)
  default     = []
}

variable "execution_extra_policy_json" {
  description = "An extra policy document for the execution role (for example access to a private registry's secret)."
  type        = string
  default     = null
}

variable "enable_exec" {
  description = "Give the task role the permissions ECS Exec needs."
  type        = bool
  default     = true
}

variable "exec_log_group_name" {
  description = "Log group of ECS Exec sessions (the cluster module's exec_log_group_name), or null."
  type        = string
  default     = null
}

variable "task_policies" {
  description = "Policies for the task role: name => policy document JSON."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
