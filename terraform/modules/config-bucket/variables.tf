variable "bucket_name" {
  description = "Name of the config bucket (globally unique)."
  type        = string
}

variable "prefix" {
  description = "Key prefix of the app's environment, usually <app>/<env>; the read policy covers it only."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption; SSE-S3 (AES256) when null."
  type        = string
  default     = null
}

variable "noncurrent_version_days" {
  description = "Days old versions of config files are kept."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Allow destroying the bucket with objects in it."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
