locals {
  prefix = "${var.name}-${var.environment}"

  # What differs between the two products. Everything else is the same
  # shape: the API service behind its load balancer (serve
  # --workers=false --migrate=false), the worker service (worker
  # --migrate=false) and the migration task (migrate) the pipeline runs
  # before a deployment; see docs/architecture.md (Deployment files).
  products = {
    adherence = {
      port = 8080
      # PHI: its own database cluster, Redis for the shared failed-auth
      # rate limits (data.tf), SNS for the SMS fallback provider.
      environment = merge({
        LOG_LEVEL     = "info"
        SMS_PROVIDERS = "twilio,sns"
        SNS_REGION    = var.region
        # No push or e-mail provider unless the environment names one
        # (environment_overrides, with its credentials in extra_secrets):
        # left unset, they default to the console provider, which would
        # log reminders and escalations and count them as sent.
        PUSH_PROVIDERS  = "none"
        EMAIL_PROVIDERS = "none"
        # Twilio's status callbacks and webhook signatures name it.
        PUBLIC_URL = "https://${var.public_hosts.adherence}"
        # The load balancer's addresses, whose X-Forwarded-For names the
        # client (failed-auth limits, audit trail, logs).
        TRUSTED_PROXIES = data.aws_vpc.main.cidr_block
        # Audit chain checkpoints, write-once in a bucket with Object Lock.
        BLOB_URL = "s3://${aws_s3_bucket.audit.bucket}/adherence"
      }, var.environment_overrides.adherence)
      # Values are put in Secrets Manager by the operators (never in
      # Terraform state); see docs/architecture.md (Deployment files).
      secrets = concat(["DATABASE_URL", "REDIS_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "WEBHOOK_SECRET"],
      var.extra_secrets.adherence)
    }
    medsales = {
      port = 8081
      environment = merge({
        LOG_LEVEL       = "info"
        TRUSTED_PROXIES = data.aws_vpc.main.cidr_block
        # API-queued loads may only read the data bucket; the worker
        # writes rejects files to its task storage (the image's / is not
        # writable; /tmp is).
        INGEST_ALLOWED_SOURCES = "s3://${aws_s3_bucket.datasets.bucket}/"
        REJECTS_DIR            = "/tmp/rejects"
      }, var.environment_overrides.medsales)
      secrets = concat(["DATABASE_URL", "INGEST_API_TOKEN"], var.extra_secrets.medsales)
    }
  }

  # The three roles of a product's image.
  roles = {
    api     = ["serve", "--workers=false", "--migrate=false"]
    worker  = ["worker", "--migrate=false"]
    migrate = ["migrate"]
  }
  tasks = merge([
    for product, p in local.products : {
      for role, command in local.roles : "${product}-${role}" => {
        product = product
        role    = role
        command = command
        port    = p.port
      }
    }
  ]...)
}

data "aws_vpc" "main" {
  id = var.vpc_id
}

data "aws_caller_identity" "current" {}

# One key for the data at rest of both products (databases, Redis,
# secrets, buckets); rotated yearly by KMS.
resource "aws_kms_key" "data" {
  description             = "${local.prefix} data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.prefix}-data"
  target_key_id = aws_kms_key.data.key_id
}
