# ECS cluster with optional Container Insights, ECS Exec audit logging, the log groups the
# services write to, and optionally the Cloud Map private DNS namespace of its discoverable
# services (the service module's discovery_namespace_id).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

resource "aws_cloudwatch_log_group" "exec" {
  #checkov:skip=CKV_AWS_338:Retention is exec_log_retention_days, a year by default; checkov cannot read the variable
  count             = var.exec_logging ? 1 : 0
  name              = "/ecs/${var.name}/exec"
  retention_in_days = var.exec_log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "service" {
  #checkov:skip=CKV_AWS_338:Application logs are kept log_retention_days (30 by default, a cost choice); set 365 or more where a policy requires it
  for_each          = toset(var.log_groups)
  name              = "/ecs/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }

  dynamic "configuration" {
    for_each = var.exec_logging ? [1] : []
    content {
      execute_command_configuration {
        kms_key_id = var.kms_key_arn
        logging    = "OVERRIDE"
        log_configuration {
          cloud_watch_encryption_enabled = var.kms_key_arn != null
          cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec[0].name
        }
      }
    }
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = var.capacity_providers

  default_capacity_provider_strategy {
    capacity_provider = var.capacity_providers[0]
    weight            = 1
  }
}

resource "aws_service_discovery_private_dns_namespace" "this" {
  count       = var.discovery_namespace == null ? 0 : 1
  name        = var.discovery_namespace
  description = "Discoverable services of cluster ${var.name}"
  vpc         = var.vpc_id
  tags        = var.tags

  lifecycle {
    precondition {
      condition     = var.vpc_id != null
      error_message = "discovery_namespace needs vpc_id (the VPC whose resolver answers for the namespace)."
    }
  }
}
