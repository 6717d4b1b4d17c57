variable "name" {
  description = "Name of the network load balancer (prefix of its target groups and security group)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer and its target groups."
  type        = string
}

variable "vpc_cidr_block" {
  description = "CIDR block of the VPC; the load balancer may only reach targets inside it."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the load balancer (public subnets for a public one); one node per subnet."
  type        = list(string)
}

variable "internal" {
  description = "An internal load balancer (reachable inside the VPC only) instead of a public one."
  type        = bool
  default     = false
}

variable "ingress_cidr_blocks" {
  description = "Networks allowed to reach the listeners."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "listeners" {
  description = "TCP listeners: key => listener port, the tasks' port (target_port, the listener port when null) and the TCP health-check interval. Each gets its own `ip` target group (output target_group_arns[key]) for a load_balanced service."
  type = map(object({
    port                  = number
    target_port           = optional(number)
    health_check_interval = optional(number, 30)
  }))
  validation {
    condition     = length(var.listeners) > 0
    error_message = "A network load balancer needs at least one entry in listeners."
  }
}

variable "cross_zone" {
  description = "Cross-zone load balancing (each node sends to targets in every zone; inter-zone traffic is billed)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer (turn on for production)."
  type        = bool
  default     = false
}

variable "access_logs_bucket" {
  description = "S3 bucket for access logs (its policy must let the ELB log delivery write); off when null."
  type        = string
  default     = null
}

variable "deregistration_delay" {
  description = "Seconds a target keeps draining after it leaves its target group."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
