variable "app" {
  description = "App name, as in wharf.toml."
  type        = string
  default     = "shop"
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"
}

variable "app_tag" {
  description = "Image tag to run; wharf passes it with -var app_tag=TAG (`wharf apply --tag`)."
  type        = string
  default     = "latest"
}

variable "registry" {
  description = "Image registry host (ACCOUNT.dkr.ecr.REGION.amazonaws.com)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the environment."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the load balancer's HTTPS listener (HTTP then redirects to HTTPS); null only with http_only = true."
  type        = string
  default     = null
}

variable "http_only" {
  description = "Serve plain HTTP with no certificate (the test bed); the alb module refuses a missing certificate otherwise."
  type        = bool
  default     = false
}

variable "web_cpu" {
  description = "CPU units of the web task."
  type        = number
  default     = 256
}

variable "web_memory" {
  description = "Memory (MiB) of the web task."
  type        = number
  default     = 512
}

variable "web_count" {
  description = "Tasks of the web service."
  type        = number
  default     = 2
}

variable "admin_count" {
  description = "Tasks of the admin service (the load balancer's /admin route)."
  type        = number
  default     = 1
}

variable "api_count" {
  description = "Tasks of the api service (behind the network load balancer)."
  type        = number
  default     = 2
}

variable "search_count" {
  description = "Tasks of the search service (discoverable as search.<app>-<env>.internal)."
  type        = number
  default     = 1
}

variable "wharf_deploys" {
  description = "true: wharf deploys revisions (wharf deploy); false: Terraform does (wharf apply --tag), the seed's model."
  type        = bool
  default     = false
}
