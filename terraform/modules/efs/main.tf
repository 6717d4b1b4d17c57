# EFS file system for ECS tasks: encrypted at rest, a mount target in each given subnet, a
# security group that lets the services' security groups in on NFS (TCP 2049), and optional
# access points (a directory with a fixed POSIX user). Mount it in a service with the service
# module's efs_volumes (file_system_id, access_point_ids[...]).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

resource "aws_efs_file_system" "this" {
  #checkov:skip=CKV2_AWS_18:Backups belong to the account's AWS Backup plans, outside this module; the file system can be selected there by its tags
  creation_token   = var.name
  encrypted        = true
  kms_key_id       = var.kms_key_arn
  performance_mode = var.performance_mode
  throughput_mode  = var.throughput_mode

  dynamic "lifecycle_policy" {
    for_each = var.transition_to_ia == null ? [] : [1]
    content {
      transition_to_ia = var.transition_to_ia
    }
  }

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_security_group" "this" {
  name        = "${var.name}-efs"
  description = "NFS to file system ${var.name}"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

# count, not for_each: the client groups are often created in the same apply (unknown at plan).
resource "aws_vpc_security_group_ingress_rule" "nfs" {
  count                        = length(var.client_security_group_ids)
  description                  = "NFS from the services"
  security_group_id            = aws_security_group.this.id
  referenced_security_group_id = var.client_security_group_ids[count.index]
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
}

resource "aws_efs_mount_target" "this" {
  count           = length(var.subnet_ids)
  file_system_id  = aws_efs_file_system.this.id
  subnet_id       = var.subnet_ids[count.index]
  security_groups = [aws_security_group.this.id]
}

resource "aws_efs_access_point" "this" {
  for_each       = var.access_points
  file_system_id = aws_efs_file_system.this.id

  posix_user {
    uid = each.value.uid
    gid = each.value.gid
  }

  root_directory {
    path = each.value.path
    creation_info {
      owner_uid   = each.value.uid
      owner_gid   = each.value.gid
      permissions = each.value.permissions
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })
}
