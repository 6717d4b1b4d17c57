# Application load balancer: public or internal; HTTPS with a certificate (HTTP answers 301 to
# HTTPS), or plain HTTP only when `http_only = true` says so; a fixed default response; path- and
# host-based routing of several services from one map.
# Each route's listener rule forwards to that route's own target group (the seed's modules sent
# rules to the wrong target groups).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

locals {
  https = var.certificate_arn != null
  # The listener that carries the routing rules.
  routing_listener_arn = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
}

resource "aws_security_group" "lb" {
  name        = "${var.name}-lb"
  description = "Load balancer ${var.name}"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  #checkov:skip=CKV_AWS_260:Port 80 is open to the ingress networks by design: with a certificate it only answers 301 to HTTPS; without one, http_only = true said so
  for_each          = toset(var.ingress_cidr_blocks)
  description       = local.https ? "HTTP from clients (redirected to HTTPS)" : "HTTP from clients"
  security_group_id = aws_security_group.lb.id
  cidr_ipv4         = each.key
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  for_each          = local.https ? toset(var.ingress_cidr_blocks) : toset([])
  description       = "HTTPS from clients"
  security_group_id = aws_security_group.lb.id
  cidr_ipv4         = each.key
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
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
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is the caller's choice (aws_wafv2_web_acl_association with the arn output); the module does not pick rules
  name                       = var.name
  internal                   = var.internal
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.lb.id]
  subnets                    = var.subnet_ids
  idle_timeout               = var.idle_timeout
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  tags                       = var.tags

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [1]
    content {
      bucket  = var.access_logs_bucket
      prefix  = var.name
      enabled = true
    }
  }

  lifecycle {
    precondition {
      condition     = var.certificate_arn != null || var.http_only
      error_message = "The load balancer has no certificate_arn: set certificate_arn (HTTPS, with HTTP redirected to it), or set http_only = true to serve plain HTTP only (the test bed, or TLS terminated in front of it)."
    }
    precondition {
      condition     = var.certificate_arn == null || !var.http_only
      error_message = "certificate_arn is set and http_only = true: drop http_only (HTTPS then carries the routes and HTTP redirects to it) or drop certificate_arn."
    }
  }
}

# Target-group names are at most 32 characters: a readable prefix and a hash of everything that
# makes the group (load balancer, route, port), so two long routes never collide after
# truncation, and a change that replaces the group gets a new name (create_before_destroy can
# then create the new group while the listener rule still points at the old one).
resource "aws_lb_target_group" "route" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; tasks are reached on plain HTTP inside the VPC (their security group admits only the load balancer)
  for_each             = var.routes
  name                 = "${trimsuffix(substr("${var.name}-${each.key}", 0, 23), "-")}-${substr(sha1("${var.name}/${each.key}/${each.value.port}"), 0, 8)}"
  port                 = each.value.port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    path                = each.value.health_check_path
    matcher             = each.value.health_check_matcher
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:Port 80 redirects to HTTPS when there is a certificate; it serves plain HTTP only when the caller set http_only = true
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = local.https ? "redirect" : "fixed-response"

    dynamic "redirect" {
      for_each = local.https ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }

    dynamic "fixed_response" {
      for_each = local.https ? [] : [1]
      content {
        content_type = "text/plain"
        message_body = var.default_response_body
        status_code  = tostring(var.default_response_status)
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count             = local.https ? 1 : 0
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = var.default_response_body
      status_code  = tostring(var.default_response_status)
    }
  }
}

resource "aws_lb_listener_rule" "route" {
  for_each     = { for k, r in var.routes : k => r if !r.blue_green }
  listener_arn = local.routing_listener_arn
  priority     = each.value.priority

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.route[each.key].arn
  }

  dynamic "condition" {
    for_each = length(each.value.paths) > 0 ? [1] : []
    content {
      path_pattern {
        values = each.value.paths
      }
    }
  }

  dynamic "condition" {
    for_each = length(each.value.hosts) > 0 ? [1] : []
    content {
      host_header {
        values = each.value.hosts
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(each.value.paths) + length(each.value.hosts) > 0
      error_message = "Route ${each.key} needs at least one path or host."
    }
  }
}

# ---------------------------------------------------------------------------- blue/green routes
# A route with blue_green = true gets a second target group (ECS's alternateTargetGroupArn), its
# production rule on the routing listener, and a rule on the test listener. ECS moves the rules'
# forward weights between the two groups during a deployment, so Terraform ignores the rules'
# actions once it created them (an apply in the middle of a deployment would otherwise move the
# traffic back). The ECS infrastructure role lets ECS change the rules and register targets.
locals {
  blue_green_routes = { for k, r in var.routes : k => r if r.blue_green }
  blue_green        = length(local.blue_green_routes) > 0
}

resource "aws_lb_target_group" "alternate" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; tasks are reached on plain HTTP inside the VPC (their security group admits only the load balancer)
  for_each             = local.blue_green_routes
  name                 = "${trimsuffix(substr("${var.name}-${each.key}", 0, 21), "-")}-g-${substr(sha1("${var.name}/${each.key}/${each.value.port}/alternate"), 0, 8)}"
  port                 = each.value.port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    path                = each.value.health_check_path
    matcher             = each.value.health_check_matcher
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

# HTTPS with the routing listener's certificate and policy when there is one; plain HTTP only
# with http_only, as for the routing listener.
resource "aws_lb_listener" "test" {
  count             = local.blue_green ? 1 : 0
  load_balancer_arn = aws_lb.this.arn
  port              = var.test_listener_port
  protocol          = local.https ? "HTTPS" : "HTTP"
  ssl_policy        = local.https ? var.ssl_policy : null
  certificate_arn   = local.https ? var.certificate_arn : null

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = var.default_response_body
      status_code  = tostring(var.default_response_status)
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "test" {
  for_each          = local.blue_green ? toset(var.ingress_cidr_blocks) : toset([])
  security_group_id = aws_security_group.lb.id
  cidr_ipv4         = each.value
  from_port         = var.test_listener_port
  to_port           = var.test_listener_port
  ip_protocol       = "tcp"
  description       = "test traffic (blue/green)"
}

resource "aws_lb_listener_rule" "blue_green" {
  for_each     = local.blue_green_routes
  listener_arn = local.routing_listener_arn
  priority     = each.value.priority

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.route[each.key].arn
  }

  dynamic "condition" {
    for_each = length(each.value.paths) > 0 ? [1] : []
    content {
      path_pattern {
        values = each.value.paths
      }
    }
  }

  dynamic "condition" {
    for_each = length(each.value.hosts) > 0 ? [1] : []
    content {
      host_header {
        values = each.value.hosts
      }
    }
  }

  lifecycle {
    # ECS owns the weights between the route's two target groups.
    ignore_changes = [action]
    precondition {
      condition     = length(each.value.paths) + length(each.value.hosts) > 0
      error_message = "Route ${each.key} needs at least one path or host."
    }
  }
}

resource "aws_lb_listener_rule" "test" {
  for_each     = local.blue_green_routes
  listener_arn = aws_lb_listener.test[0].arn
  priority     = each.value.priority

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.route[each.key].arn
  }

  dynamic "condition" {
    for_each = length(each.value.paths) > 0 ? [1] : []
    content {
      path_pattern {
        values = each.value.paths
      }
    }
  }

  dynamic "condition" {
    for_each = length(each.value.hosts) > 0 ? [1] : []
    content {
      host_header {
        values = each.value.hosts
      }
    }
  }

  lifecycle {
    ignore_changes = [action]
  }
}

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
  }
}

# The Amazon ECS infrastructure role for load balancers (ECS's advancedConfiguration.roleArn).
resource "aws_iam_role" "ecs_load_balancers" {
  count              = local.blue_green ? 1 : 0
  name_prefix        = substr("${var.name}-ecs-lb-", 0, 38)
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "ecs_load_balancers" {
  count      = local.blue_green ? 1 : 0
  role       = aws_iam_role.ecs_load_balancers[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
}
