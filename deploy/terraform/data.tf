# Aurora PostgreSQL per product (adherence holds PHI: its own cluster, so
# that the public reference data's heavy loads never share its I/O or its
# access), ElastiCache Redis for adherence, the medsales data bucket and
# the secrets the tasks read.
#
# RPO 5 min / RTO 1 h: Aurora keeps a continuous backup for
# backup_retention_days (point-in-time restore to any second of it; the
# latest restorable time trails by about 5 minutes at most) and a reader
# in another availability zone that takes over in about a minute when the
# writer fails. Restoring a cluster to a point in time is the runbook of
# docs/architecture.md (Deployment files); final snapshots are kept on
# deletion.

resource "aws_db_subnet_group" "main" {
  name       = local.prefix
  subnet_ids = var.private_subnet_ids
}

resource "aws_rds_cluster_parameter_group" "main" {
  for_each    = local.products
  name        = "${local.prefix}-${each.key}"
  family      = "aurora-postgresql15"
  description = "${each.key}: TLS only, no statement text in the logs"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  # Statements carry PHI in their parameters: never log them (slow ones
  # are found through Performance Insights, which keeps the text
  # normalised, without values).
  parameter {
    name  = "log_statement"
    value = "none"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "-1"
  }
  parameter {
    name  = "log_min_error_statement"
    value = "panic"
  }
}

resource "aws_rds_cluster" "main" {
  for_each                            = local.products
  cluster_identifier                  = "${local.prefix}-${each.key}"
  engine                              = "aurora-postgresql"
  engine_version                      = "15.10"
  database_name                       = each.key
  master_username                     = "postgres_admin"
  manage_master_user_password         = true # in Secrets Manager, rotated; the services use their own roles
  master_user_secret_kms_key_id       = aws_kms_key.data.arn
  db_subnet_group_name                = aws_db_subnet_group.main.name
  vpc_security_group_ids              = [aws_security_group.db[each.key].id]
  db_cluster_parameter_group_name     = aws_rds_cluster_parameter_group.main[each.key].name
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.data.arn
  backup_retention_period             = var.backup_retention_days
  preferred_backup_window             = "07:00-08:00"
  preferred_maintenance_window        = "sun:09:00-sun:10:00"
  copy_tags_to_snapshot               = true
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.prefix}-${each.key}-final"
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql"]
}

resource "aws_rds_cluster_instance" "main" {
  for_each = merge([
    for product in keys(local.products) : {
      for i in range(2) : "${product}-${i}" => product
    }
  ]...)
  identifier                      = "${local.prefix}-${each.key}"
  cluster_identifier              = aws_rds_cluster.main[each.value].id
  instance_class                  = var.db_instance_class[each.value]
  engine                          = aws_rds_cluster.main[each.value].engine
  engine_version                  = aws_rds_cluster.main[each.value].engine_version
  db_subnet_group_name            = aws_db_subnet_group.main.name
  performance_insights_enabled    = true
  performance_insights_kms_key_id = aws_kms_key.data.arn
  auto_minor_version_upgrade      = true
}

resource "aws_elasticache_subnet_group" "main" {
  name       = local.prefix
  subnet_ids = var.private_subnet_ids
}

# Shared failed-auth rate limits of the adherence API tasks. Nothing in it
# must survive: the limits are minutes long (should Redis fail, the
# limiter fails open and logs it, rather than refuse every client).
resource "aws_elasticache_replication_group" "adherence" {
  replication_group_id       = "${local.prefix}-adherence"
  description                = "adherence rate limits"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.main.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.data.arn
  transit_encryption_enabled = true
}

# Source files for medsales loads (NPPES, CMS, Open Payments), dropped by
# the operators or a sync job; INGEST_ALLOWED_SOURCES keeps API-queued
# loads to it.
resource "aws_s3_bucket" "datasets" {
  bucket = "${local.prefix}-medsales-datasets-${data.aws_caller_identity.current.account_id}"
}

resource "aws_s3_bucket_public_access_block" "datasets" {
  bucket                  = aws_s3_bucket.datasets.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "datasets" {
  bucket = aws_s3_bucket.datasets.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "datasets" {
  bucket = aws_s3_bucket.datasets.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

# Replaced releases are kept 90 days (a load can be re-run from the file
# it came from), then expire.
resource "aws_s3_bucket_lifecycle_configuration" "datasets" {
  bucket = aws_s3_bucket.datasets.id
  rule {
    id     = "expire-replaced-releases"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# One secret per environment variable the tasks read from Secrets
# Manager. Terraform creates them empty: the values (a DATABASE_URL with
# the service role's password, Twilio's token…) are put by the operators
# with `aws secretsmanager put-secret-value`, so they never enter the
# Terraform state.
resource "aws_secretsmanager_secret" "env" {
  for_each = merge([
    for product, p in local.products : {
      for name in p.secrets : "${product}/${name}" => product
    }
  ]...)
  name       = "${local.prefix}/${each.key}"
  kms_key_id = aws_kms_key.data.arn
}

# The adherence audit chain's checkpoints (BLOB_URL): copies of the chain
# head that `adherence audit verify` holds the database to. Object Lock in
# compliance mode keeps every version for audit_retention_days: not even
# the account's root can replace or delete one, so someone who rewrites
# the audit trail in the database cannot rewrite its checkpoints too.
resource "aws_s3_bucket" "audit" {
  bucket              = "${local.prefix}-audit-checkpoints-${data.aws_caller_identity.current.account_id}"
  object_lock_enabled = true
}

resource "aws_s3_bucket_versioning" "audit" {
  bucket = aws_s3_bucket.audit.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.audit_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.audit]
}

resource "aws_s3_bucket_public_access_block" "audit" {
  bucket                  = aws_s3_bucket.audit.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}
