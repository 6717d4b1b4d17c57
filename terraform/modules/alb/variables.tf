variable "name" {
  description = "Name of the load balancer (prefix of its target groups and security group)."
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
  description = "Subnets of the load balancer (public subnets for a public one), two zones at least."
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

variable "certificate_arn" {
  description = "ACM certificate for HTTPS: an HTTPS listener on 443 carries the routes, and HTTP (80) answers 301 to HTTPS. Required unless http_only = true."
  type        = string
  default     = null
}

variable "http_only" {
  description = "Serve plain HTTP on port 80, with no HTTPS listener (the test bed, or TLS terminated in front of the load balancer). Must be true when certificate_arn is null, and false when it is set."
  type        = bool
  default     = false
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (default: TLS 1.3 and 1.2 only, AWS's recommended policy)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "default_response_status" {
  description = "Status of the fixed response for requests no route matches."
  type        = number
  default     = 404
}

variable "default_response_body" {
  description = "Body of the fixed response for requests no route matches."
  type        = string
  default     = "not found"
}

variable "idle_timeout" {
  description = "Seconds a connection may stay idle."
  type        = number
  default     = 60
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

variable "routes" {
  description = "Services behind the load balancer: key => port, path patterns and/or host names, rule priority, health check."
  type = map(object({
    port                 = number
    priority             = number
    paths                = optional(list(string), [])
    hosts                = optional(list(string), [])
    health_check_path    = optional(string, "/")
    health_check_matcher = optional(string, "200-399")
    # ECS blue/green, linear or canary deployments (wharf's deployment.strategy): a second
    # target group, and a rule on the test listener; ECS moves both rules' weights.
    blue_green = optional(bool, false)
  }))
  default = {}
}

variable "test_listener_port" {
  description = "Port of the test listener that routes with blue_green = true get a rule on (ECS sends test traffic to the new revision through it before production traffic moves). Reach it only from where smoke tests run: ingress_cidr_blocks apply to it too."
  type        = number
  default     = 8080
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
