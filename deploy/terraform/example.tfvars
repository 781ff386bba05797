# An environment's values (no secrets: those go to Secrets Manager).
environment        = "prod"
region             = "us-east-1"
vpc_id             = "vpc-0123456789abcdef0"
private_subnet_ids = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
public_subnet_ids  = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
images = {
  adherence = "123456789012.dkr.ecr.us-east-1.amazonaws.com/adherence:2026.12.1"
  medsales  = "123456789012.dkr.ecr.us-east-1.amazonaws.com/medsales:2026.12.1"
}
certificate_arns = {
  adherence = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000001"
  medsales  = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000002"
}
public_hosts = {
  adherence = "adherence.example.org"
  medsales  = "medsales.example.org"
}
environment_overrides = {
  adherence = {
    OIDC_ISSUER     = "https://login.example.org"
    OIDC_AUDIENCE   = "adherence-api"
    OIDC_JWKS_URL   = "https://login.example.org/.well-known/jwks.json"
    EMAIL_PROVIDERS = "smtp"
    SMTP_ADDR       = "email-smtp.us-east-1.amazonaws.com:587"
    SMTP_FROM       = "reminders@example.org"
  }
  medsales = { INGEST_SCHEDULE = "nppes s3://medplatform-prod-medsales-datasets-123456789012/nppes/weekly.zip 168h" }
}
extra_secrets = {
  adherence = ["SMTP_USERNAME", "SMTP_PASSWORD"]
  medsales  = []
}
alarm_email = ""
