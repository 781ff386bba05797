variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "medplatform"
}

variable "environment" {
  description = "Environment name (prod, staging), part of resource names."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,9}$", var.environment))
    error_message = "environment must be 1 to 10 lowercase letters and digits, starting with a letter (target group names are at most 32 characters)."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "vpc_id" {
  description = "VPC the services run in."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (at least two availability zones) for the tasks, the databases and Redis."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Public subnets for the load balancers."
  type        = list(string)
}

variable "images" {
  description = "Container image of each product (ECR URI with an immutable tag or digest), as built from deploy/docker. The pipeline deploys new ones through CodeDeploy; this is the image of the first deployment."
  type        = object({ adherence = string, medsales = string })
}

variable "certificate_arns" {
  description = "ACM certificate of each product's public host name, for its load balancer's HTTPS listener."
  type        = object({ adherence = string, medsales = string })
}

variable "public_hosts" {
  description = "Public host name of each product (its certificate's name; DNS points it at the product's load balancer)."
  type        = object({ adherence = string, medsales = string })
}

variable "environment_overrides" {
  description = "More environment variables per product, or overrides of this module's (e.g. OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL, which go together; EMAIL_PROVIDERS, PUSH_PROVIDERS, INGEST_SCHEDULE). Secrets go to Secrets Manager instead."
  type        = object({ adherence = map(string), medsales = map(string) })
  default     = { adherence = {}, medsales = {} }
}

variable "extra_secrets" {
  description = "More environment variables per product read from Secrets Manager, beside the module's (e.g. SMTP_PASSWORD, FCM_SERVICE_ACCOUNT_JSON once EMAIL_PROVIDERS=smtp or PUSH_PROVIDERS=fcm is set in environment_overrides): a secret is created per name, its value put by the operators."
  type        = object({ adherence = list(string), medsales = list(string) })
  default     = { adherence = [], medsales = [] }
}

variable "api_desired_count" {
  description = "API tasks per product (spread over the availability zones)."
  type        = object({ adherence = number, medsales = number })
  default     = { adherence = 3, medsales = 2 }
}

variable "worker_desired_count" {
  description = "Worker tasks per product. River elects one leader for periodic jobs; the others share the queue."
  type        = object({ adherence = number, medsales = number })
  default     = { adherence = 2, medsales = 1 }
}

variable "db_instance_class" {
  description = "Aurora instance class per product (a writer and a reader each)."
  type        = object({ adherence = string, medsales = string })
  default     = { adherence = "db.r6g.large", medsales = "db.r6g.xlarge" }
}

variable "redis_node_type" {
  description = "ElastiCache node type (adherence's shared rate limits)."
  type        = string
  default     = "cache.t4g.small"
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the services' logs (they hold no PHI)."
  type        = number
  default     = 90
}

variable "backup_retention_days" {
  description = "Aurora point-in-time recovery window, in days (1 to 35)."
  type        = number
  default     = 35
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (page and ticket alerts); empty for none (subscribe a pager integration instead)."
  type        = string
  default     = ""
}

variable "audit_retention_days" {
  description = "Days each audit checkpoint is kept under Object Lock (compliance mode: not removable by anyone before). HIPAA asks six years of audit records."
  type        = number
  default     = 2190
}
