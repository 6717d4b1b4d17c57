variable "name" {
  description = "Name of the file system (its creation token, Name tag and security-group prefix)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the mount targets."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets to put a mount target in (one per zone; the tasks' subnets)."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups of the services that mount the file system; each may reach it on NFS (TCP 2049). Their egress must allow 2049 to security_group_id."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key for encryption at rest; the AWS-managed key for EFS when null (the file system is always encrypted)."
  type        = string
  default     = null
}

variable "performance_mode" {
  description = "generalPurpose or maxIO."
  type        = string
  default     = "generalPurpose"
  validation {
    condition     = contains(["generalPurpose", "maxIO"], var.performance_mode)
    error_message = "performance_mode must be generalPurpose or maxIO."
  }
}

variable "throughput_mode" {
  description = "bursting, elastic or provisioned."
  type        = string
  default     = "elastic"
  validation {
    condition     = contains(["bursting", "elastic", "provisioned"], var.throughput_mode)
    error_message = "throughput_mode must be bursting, elastic or provisioned."
  }
}

variable "transition_to_ia" {
  description = "Move files not read for this long to Infrequent Access (AFTER_30_DAYS, ...); never when null."
  type        = string
  default     = null
}

variable "access_points" {
  description = "Access points: key => directory (created on first use, owned by uid:gid with permissions) and the POSIX user every client acts as. Output access_point_ids[key]."
  type = map(object({
    path        = string
    uid         = optional(number, 1000)
    gid         = optional(number, 1000)
    permissions = optional(string, "0755")
  }))
  default = {}
  validation {
    condition     = alltrue([for a in values(var.access_points) : startswith(a.path, "/") && a.path != "/"])
    error_message = "Each access point's path must be an absolute directory below / (e.g. \"/uploads\"), so that clients do not act on the whole file system."
  }
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
