# Network load balancer: TCP listeners, each forwarding to its own `ip` target group (Fargate and
# awsvpc tasks register by IP) with TCP health checks. Seed 002 exposes its service this way.
#
# The load balancer has a security group (NLBs support them since 2023): clients are allowed on
# the listener ports from `ingress_cidr_blocks`, and the services' security group allows traffic
# from this one (output security_group_id), as with the alb module.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

resource "aws_security_group" "lb" {
  name        = "${var.name}-nlb"
  description = "Network load balancer ${var.name}"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

locals {
  # One ingress rule per (listener, network).
  ingress = {
    for pair in setproduct(keys(var.listeners), var.ingress_cidr_blocks) :
    "${pair[0]}/${pair[1]}" => { listener = pair[0], cidr = pair[1] }
  }
}

resource "aws_vpc_security_group_ingress_rule" "listener" {
  for_each          = local.ingress
  description       = "Clients of listener ${each.value.listener}"
  security_group_id = aws_security_group.lb.id
  cidr_ipv4         = each.value.cidr
  ip_protocol       = "tcp"
  from_port         = var.listeners[each.value.listener].port
  to_port           = var.listeners[each.value.listener].port
}

resource "aws_vpc_security_group_egress_rule" "to_vpc" {
  description       = "Targets and health checks inside the VPC"
  security_group_id = aws_security_group.lb.id
  cidr_ipv4         = var.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = 0
  to_port           = 65535
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:Access logs need an S3 bucket with a policy for the ELB log delivery; enable them with access_logs_bucket
  #checkov:skip=CKV_AWS_150:Deletion protection is the deletion_protection variable (off by default so that environments can be torn down)
  name                             = var.name
  internal                         = var.internal
  load_balancer_type               = "network"
  security_groups                  = [aws_security_group.lb.id]
  subnets                          = var.subnet_ids
  enable_cross_zone_load_balancing = var.cross_zone
  enable_deletion_protection       = var.deletion_protection
  tags                             = var.tags

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [1]
    content {
      bucket  = var.access_logs_bucket
      prefix  = var.name
      enabled = true
    }
  }
}

# Same naming as the alb module: a readable prefix and a hash of load balancer, listener and
# target port (32 characters at most, no collision after truncation, replaceable with
# create_before_destroy).
resource "aws_lb_target_group" "listener" {
  for_each             = var.listeners
  name                 = "${trimsuffix(substr("${var.name}-${each.key}", 0, 23), "-")}-${substr(sha1("${var.name}/${each.key}/${coalesce(each.value.target_port, each.value.port)}"), 0, 8)}"
  port                 = coalesce(each.value.target_port, each.value.port)
  protocol             = "TCP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    protocol            = "TCP"
    port                = "traffic-port"
    interval            = each.value.health_check_interval
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "tcp" {
  #checkov:skip=CKV_AWS_2:A TCP listener passes the connection through; TLS, if any, is the service's own
  #checkov:skip=CKV_AWS_103:A TCP listener has no TLS policy; TLS, if any, is terminated by the service
  for_each          = var.listeners
  load_balancer_arn = aws_lb.this.arn
  port              = each.value.port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.listener[each.key].arn
  }

  tags = var.tags
}
