# One ECS service: load_balanced (target group), discoverable (Cloud Map) or generic; Fargate or
# EC2; deployment circuit breaker with rollback; ECS Exec; EFS volumes (any number).
#
# cpu and memory are inputs (the seed hard-coded them). When wharf deploys the service
# (wharf_deploys = true), Terraform creates it with a first task definition and then ignores
# task_definition and desired_count, so `wharf deploy` owns revisions and scaling.

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
  fargate = var.launch_type == "FARGATE"
  container_definitions = [merge({
    name        = var.name
    image       = var.image
    essential   = true
    command     = var.command
    environment = [for k, v in var.environment : { name = k, value = v }]
    secrets     = [for k, v in var.secrets : { name = k, valueFrom = v }]
    portMappings = var.container_port == null ? [] : [{
      containerPort = var.container_port
      protocol      = "tcp"
    }]
    mountPoints = [for name, v in var.efs_volumes : {
      sourceVolume  = name
      containerPath = v.container_path
      readOnly      = v.read_only
    }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.log_group_name
        awslogs-region        = var.region
        awslogs-stream-prefix = var.name
      }
    }
  }, var.container_overrides)]
}

resource "aws_ecs_task_definition" "this" {
  #checkov:skip=CKV_AWS_97:Transit encryption is per volume in efs_volumes and on unless a volume says transit_encryption = false (checkov cannot see through the dynamic block)
  family                   = var.family != null ? var.family : var.name
  requires_compatibilities = [var.launch_type]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn
  container_definitions    = jsonencode(local.container_definitions)

  dynamic "volume" {
    for_each = var.efs_volumes
    content {
      name = volume.key
      efs_volume_configuration {
        file_system_id = volume.value.file_system_id
        # With an access point, the access point's directory is the root (ECS requires / or none).
        root_directory     = volume.value.access_point_id == null ? volume.value.root_directory : null
        transit_encryption = volume.value.transit_encryption ? "ENABLED" : "DISABLED"
        dynamic "authorization_config" {
          for_each = volume.value.access_point_id != null || volume.value.iam ? [1] : []
          content {
            access_point_id = volume.value.access_point_id
            iam             = volume.value.iam ? "ENABLED" : "DISABLED"
          }
        }
      }
    }
  }

  tags = var.tags
}

resource "aws_service_discovery_service" "this" {
  count = var.kind == "discoverable" ? 1 : 0
  name  = var.name

  dns_config {
    namespace_id   = var.discovery_namespace_id
    routing_policy = "MULTIVALUE"
    dns_records {
      ttl  = 10
      type = "A"
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }

  lifecycle {
    precondition {
      condition     = var.discovery_namespace_id != null
      error_message = "A discoverable service needs discovery_namespace_id: set discovery_namespace on the cluster module and pass its discovery_namespace_id output."
    }
  }
}

resource "aws_ecs_service" "wharf" {
  #checkov:skip=CKV_AWS_332:platform_version is a variable, LATEST by default (checkov cannot see through the FARGATE-only conditional)
  count = var.wharf_deploys ? 1 : 0

  name                               = var.name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  launch_type                        = var.launch_type
  platform_version                   = local.fargate ? var.platform_version : null
  enable_execute_command             = var.enable_execute_command
  health_check_grace_period_seconds  = var.kind == "load_balanced" ? var.health_check_grace_period : null
  deployment_minimum_healthy_percent = var.minimum_healthy_percent
  deployment_maximum_percent         = var.maximum_percent
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = var.rollback_on_failure
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = var.assign_public_ip
  }

  dynamic "load_balancer" {
    for_each = var.kind == "load_balanced" ? [1] : []
    content {
      target_group_arn = var.target_group_arn
      container_name   = var.name
      container_port   = var.container_port
    }
  }

  dynamic "service_registries" {
    for_each = var.kind == "discoverable" ? [1] : []
    content {
      registry_arn = aws_service_discovery_service.this[0].arn
    }
  }

  lifecycle {
    # wharf registers revisions and scales; Terraform must not undo it on the next apply.
    ignore_changes = [task_definition, desired_count]
    precondition {
      condition     = var.kind != "load_balanced" || (var.target_group_arn != null && var.container_port != null)
      error_message = "A load_balanced service needs target_group_arn and container_port."
    }
  }

  tags = var.tags
}

resource "aws_ecs_service" "terraform" {
  #checkov:skip=CKV_AWS_332:platform_version is a variable, LATEST by default (checkov cannot see through the FARGATE-only conditional)
  count = var.wharf_deploys ? 0 : 1

  name                               = var.name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  launch_type                        = var.launch_type
  platform_version                   = local.fargate ? var.platform_version : null
  enable_execute_command             = var.enable_execute_command
  health_check_grace_period_seconds  = var.kind == "load_balanced" ? var.health_check_grace_period : null
  deployment_minimum_healthy_percent = var.minimum_healthy_percent
  deployment_maximum_percent         = var.maximum_percent
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = var.rollback_on_failure
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = var.assign_public_ip
  }

  dynamic "load_balancer" {
    for_each = var.kind == "load_balanced" ? [1] : []
    content {
      target_group_arn = var.target_group_arn
      container_name   = var.name
      container_port   = var.container_port
    }
  }

  dynamic "service_registries" {
    for_each = var.kind == "discoverable" ? [1] : []
    content {
      registry_arn = aws_service_discovery_service.this[0].arn
    }
  }

  lifecycle {
    precondition {
      condition     = var.kind != "load_balanced" || (var.target_group_arn != null && var.container_port != null)
      error_message = "A load_balanced service needs target_group_arn and container_port."
    }
  }

  tags = var.tags
}
