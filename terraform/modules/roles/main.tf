# The two IAM roles of an app's tasks, least privilege (no "*" action on "*"):
# - execution role: pull images, write logs, read the app's parameters /<app>/<env>/* (the
#   secrets wharf keeps in SSM) and decrypt them; plus an optional extra policy;
# - task role: the ECS Exec channel (ssmmessages) and exec logging; plus optional policies.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  prefix         = "${var.app}-${var.env}"
  account        = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition
  region         = data.aws_region.current.name
  parameter_path = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${var.app}/${var.env}/*"
}

data "aws_iam_policy_document" "assume_ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.prefix}-execution"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution_managed" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "parameters" {
  statement {
    sid       = "ReadAppParameters"
    actions   = ["ssm:GetParameters", "ssm:GetParameter"]
    resources = [local.parameter_path]
  }
  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptAppParameters"
      actions   = ["kms:Decrypt"]
      resources = var.kms_key_arns
    }
  }
}

resource "aws_iam_role_policy" "execution_parameters" {
  name   = "read-${var.app}-${var.env}-parameters"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.parameters.json
}

resource "aws_iam_role_policy" "execution_extra" {
  count  = var.execution_extra_policy_json == null ? 0 : 1
  name   = "extra"
  role   = aws_iam_role.execution.id
  policy = var.execution_extra_policy_json
}

resource "aws_iam_role" "task" {
  name               = "${local.prefix}-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
  tags               = var.tags
}

data "aws_iam_policy_document" "exec" {
  statement {
    sid = "EcsExecChannel"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    # These actions support no resource-level restriction (AWS documents "*" as the resource).
    resources = ["*"]
  }
  dynamic "statement" {
    for_each = var.exec_log_group_name == null ? [] : [1]
    content {
      sid       = "EcsExecLogging"
      actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      resources = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${var.exec_log_group_name}:*"]
    }
  }
  dynamic "statement" {
    for_each = var.exec_log_group_name == null ? [] : [1]
    content {
      sid       = "EcsExecLogGroups"
      actions   = ["logs:DescribeLogGroups"]
      resources = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:*"]
    }
  }
}

resource "aws_iam_role_policy" "task_exec" {
  count  = var.enable_exec ? 1 : 0
  name   = "ecs-exec"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.exec.json
}

resource "aws_iam_role_policy" "task_extra" {
  for_each = var.task_policies
  name     = each.key
  role     = aws_iam_role.task.id
  policy   = each.value
}
