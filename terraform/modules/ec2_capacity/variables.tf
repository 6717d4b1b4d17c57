variable "cluster_name" {
  description = "Name of the ECS cluster the instances join (ECS_CLUSTER in their user data)."
  type        = string
}

variable "name" {
  description = "Prefix of the launch template, instance role, Auto Scaling group and capacity provider."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets the Auto Scaling group launches instances in."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the instances (they must admit the load balancer on the ephemeral ports 32768-65535 for bridge networking)."
  type        = list(string)
}

variable "instance_type" {
  description = "EC2 instance type of the container instances."
  type        = string
  default     = "t3.medium"
}

variable "ami_ssm_parameter" {
  description = "SSM parameter holding the ECS-optimized AMI id."
  type        = string
  default     = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

variable "min_size" {
  description = "Smallest number of instances."
  type        = number
  default     = 1
}

variable "max_size" {
  description = "Largest number of instances (managed scaling stays within it)."
  type        = number
  default     = 4
}

variable "desired_capacity" {
  description = "Instances at creation (managed scaling takes over afterwards)."
  type        = number
  default     = 2
}

variable "target_capacity" {
  description = "Managed scaling's target utilization of the capacity provider, in percent."
  type        = number
  default     = 100
}

variable "instance_attributes" {
  description = "Custom container instance attributes (ECS_INSTANCE_ATTRIBUTES) for memberOf placement constraints."
  type        = map(string)
  default     = {}
}
