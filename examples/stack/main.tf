# Example stack: one environment of an app ("shop") with a public load balancer, a web service
# behind it, a worker, the roles, and the config bucket; it produces every output wharf reads
# (cluster_name, services, job_task_definition_family, subnet_ids, security_group, lb_dns_name).
#
#   wharf env create dev && wharf apply --env dev --tag 1.0.1
#
# Module sources are relative to this folder (Terraform resolves them from the calling module,
# not from the working directory, unlike the seed's scripts).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
  backend "s3" {
    bucket               = "shop-terraform-state"
    key                  = "shop/terraform.tfstate"
    region               = "us-east-1"
    workspace_key_prefix = "env:"
    use_lockfile         = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { app = var.app, env = terraform.workspace }
  }
}

locals {
  env    = terraform.workspace
  prefix = "${var.app}-${local.env}"
  image  = "${var.registry}/${var.app}/app:${var.app_tag}"
}

data "aws_vpc" "main" {
  id = var.vpc_id
}

module "cluster" {
  source     = "../../terraform/modules/cluster"
  name       = local.prefix
  log_groups = ["web", "worker", "migrate"]
}

module "roles" {
  source              = "../../terraform/modules/roles"
  app                 = var.app
  env                 = local.env
  exec_log_group_name = module.cluster.exec_log_group_name
  task_policies       = { config = module.config.read_policy_json }
}

module "config" {
  source      = "../../terraform/modules/config-bucket"
  bucket_name = "${local.prefix}-config"
  prefix      = "${var.app}/${local.env}"
}

module "alb" {
  source          = "../../terraform/modules/alb"
  name            = local.prefix
  vpc_id          = var.vpc_id
  vpc_cidr_block  = data.aws_vpc.main.cidr_block
  subnet_ids      = var.public_subnet_ids
  certificate_arn = var.certificate_arn
  routes = {
    web = {
      port              = 8080
      priority          = 10
      paths             = ["/*"]
      health_check_path = "/health"
    }
  }
}

resource "aws_security_group" "tasks" {
  name        = "${local.prefix}-tasks"
  description = "Tasks of ${local.prefix}"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "from_lb" {
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = module.alb.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_vpc_security_group_egress_rule" "https_out" {
  security_group_id = aws_security_group.tasks.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

module "web" {
  source             = "../../terraform/modules/service"
  name               = "${local.prefix}-web"
  kind               = "load_balanced"
  cluster_arn        = module.cluster.cluster_arn
  region             = var.region
  image              = local.image
  cpu                = var.web_cpu
  memory             = var.web_memory
  desired_count      = var.web_count
  container_port     = 8080
  target_group_arn   = module.alb.target_group_arns["web"]
  execution_role_arn = module.roles.execution_role_arn
  task_role_arn      = module.roles.task_role_arn
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.tasks.id]
  log_group_name     = module.cluster.log_group_names["web"]
  wharf_deploys      = var.wharf_deploys
}

module "worker" {
  source             = "../../terraform/modules/service"
  name               = "${local.prefix}-worker"
  cluster_arn        = module.cluster.cluster_arn
  region             = var.region
  image              = local.image
  command            = ["worker"]
  cpu                = 256
  memory             = 512
  execution_role_arn = module.roles.execution_role_arn
  task_role_arn      = module.roles.task_role_arn
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.tasks.id]
  log_group_name     = module.cluster.log_group_names["worker"]
  wharf_deploys      = var.wharf_deploys
}
