# Example stack: one environment of an app ("shop") with a public application load balancer
# (HTTPS, HTTP redirected) routing /admin/* to an admin service and the rest to a web service
# that mounts two EFS volumes, an API
# exposed through a network load balancer (TCP), a search service found through Cloud Map
# (search.<app>-<env>.internal), a worker, the roles, and the config bucket; it produces every
# output wharf reads (cluster_name, services, job_task_definition_family, subnet_ids,
# security_group, lb_dns_name).
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
  source              = "../../terraform/modules/cluster"
  name                = local.prefix
  log_groups          = ["web", "admin", "api", "search", "worker", "migrate"]
  discovery_namespace = "${local.prefix}.internal"
  vpc_id              = var.vpc_id
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
  http_only       = var.http_only
  routes = {
    admin = {
      port              = 8080
      priority          = 5
      paths             = ["/admin", "/admin/*"]
      health_check_path = "/admin/health"
    }
    web = {
      port              = 8080
      priority          = 10
      paths             = ["/*"]
      health_check_path = "/health"
    }
  }
}

resource "aws_security_group" "tasks" {
  #checkov:skip=CKV2_AWS_5:Attached to the services' tasks, through the service modules' security_group_ids (checkov does not follow it into the modules)
  name        = "${local.prefix}-tasks"
  description = "Tasks of ${local.prefix}"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "from_lb" {
  description                  = "Web from the application load balancer"
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = module.alb.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_vpc_security_group_ingress_rule" "from_nlb" {
  description                  = "API from the network load balancer"
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = module.nlb.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 9000
  to_port                      = 9000
}

# search.<namespace> is reached by the other tasks (Cloud Map answers with the tasks' IPs).
resource "aws_vpc_security_group_ingress_rule" "search_from_tasks" {
  description                  = "Search from the other tasks (Cloud Map)"
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
}

resource "aws_vpc_security_group_egress_rule" "https_out" {
  description       = "HTTPS to AWS APIs and image registries"
  security_group_id = aws_security_group.tasks.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "search_out" {
  description                  = "To the search service"
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = 9200
  to_port                      = 9200
}

resource "aws_vpc_security_group_egress_rule" "nfs_out" {
  description                  = "NFS to the file system"
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = module.files.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
}

# The API (seed 002) is a TCP service behind a network load balancer.
module "nlb" {
  source         = "../../terraform/modules/nlb"
  name           = "${local.prefix}-api"
  vpc_id         = var.vpc_id
  vpc_cidr_block = data.aws_vpc.main.cidr_block
  subnet_ids     = var.public_subnet_ids
  listeners = {
    api = { port = 9000 }
  }
}

# Files the web tasks share: uploads (read-write, through an access point that owns /uploads)
# and the catalog (read-only, a directory of the file system).
module "files" {
  source                    = "../../terraform/modules/efs"
  name                      = "${local.prefix}-files"
  vpc_id                    = var.vpc_id
  subnet_ids                = var.private_subnet_ids
  client_security_group_ids = [aws_security_group.tasks.id]
  access_points = {
    uploads = { path = "/uploads", uid = 1000, gid = 1000 }
  }
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
  efs_volumes = {
    uploads = {
      file_system_id  = module.files.file_system_id
      access_point_id = module.files.access_point_ids["uploads"]
      container_path  = "/srv/uploads"
    }
    catalog = {
      file_system_id = module.files.file_system_id
      root_directory = "/catalog"
      container_path = "/srv/catalog"
      read_only      = true
    }
  }
}

module "admin" {
  source             = "../../terraform/modules/service"
  name               = "${local.prefix}-admin"
  kind               = "load_balanced"
  cluster_arn        = module.cluster.cluster_arn
  region             = var.region
  image              = local.image
  command            = ["admin"]
  desired_count      = var.admin_count
  container_port     = 8080
  target_group_arn   = module.alb.target_group_arns["admin"]
  execution_role_arn = module.roles.execution_role_arn
  task_role_arn      = module.roles.task_role_arn
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.tasks.id]
  log_group_name     = module.cluster.log_group_names["admin"]
  wharf_deploys      = var.wharf_deploys
}

module "api" {
  source             = "../../terraform/modules/service"
  name               = "${local.prefix}-api"
  kind               = "load_balanced"
  cluster_arn        = module.cluster.cluster_arn
  region             = var.region
  image              = local.image
  command            = ["api"]
  desired_count      = var.api_count
  container_port     = 9000
  target_group_arn   = module.nlb.target_group_arns["api"]
  execution_role_arn = module.roles.execution_role_arn
  task_role_arn      = module.roles.task_role_arn
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.tasks.id]
  log_group_name     = module.cluster.log_group_names["api"]
  wharf_deploys      = var.wharf_deploys
}

module "search" {
  source                 = "../../terraform/modules/service"
  name                   = "${local.prefix}-search"
  kind                   = "discoverable"
  discovery_namespace_id = module.cluster.discovery_namespace_id
  cluster_arn            = module.cluster.cluster_arn
  region                 = var.region
  image                  = local.image
  command                = ["search"]
  desired_count          = var.search_count
  container_port         = 9200
  execution_role_arn     = module.roles.execution_role_arn
  task_role_arn          = module.roles.task_role_arn
  subnet_ids             = var.private_subnet_ids
  security_group_ids     = [aws_security_group.tasks.id]
  log_group_name         = module.cluster.log_group_names["search"]
  wharf_deploys          = var.wharf_deploys
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
