# The AWS deployment of both products: ECS on Fargate (API services
# behind an ALB with CodeDeploy blue/green, worker services, a migration
# task per product), Aurora PostgreSQL, ElastiCache Redis, S3, Secrets
# Manager, CloudWatch logs and alarms, Amazon Managed Service for
# Prometheus with the alert rules of deploy/prometheus/alerts.yml, and
# traces to X-Ray through an ADOT collector beside each task.
#
# One root module per environment: `terraform init` with the state
# backend of the environment (-backend-config), then plan and apply with
# the environment's tfvars (see example.tfvars). The network (VPC,
# subnets, NAT) and the ACM certificates exist already and are inputs.
terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }

  # Configured per environment at init:
  #   terraform init -backend-config="bucket=…" -backend-config="key=medplatform/prod.tfstate" \
  #     -backend-config="region=…" -backend-config="dynamodb_table=…"
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = var.name
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
