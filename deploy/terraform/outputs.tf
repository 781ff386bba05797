output "load_balancer_dns_names" {
  description = "Point each product's public host name (a CNAME or alias) at its load balancer."
  value       = { for k, lb in aws_lb.api : k => lb.dns_name }
}

output "cluster_name" {
  value = aws_ecs_cluster.main.name
}

output "migrate_task_definitions" {
  description = "Run with `aws ecs run-task` (private subnets, the product's task security group) before each deployment."
  value       = { for k in keys(local.products) : k => aws_ecs_task_definition.main["${k}-migrate"].family }
}

output "task_security_groups" {
  value = { for k, sg in aws_security_group.tasks : k => sg.id }
}

output "database_endpoints" {
  description = "Writer endpoint of each product's Aurora cluster (for the DATABASE_URL secrets)."
  value       = { for k, c in aws_rds_cluster.main : k => c.endpoint }
}

output "redis_endpoint" {
  description = "Primary endpoint of adherence's Redis (REDIS_URL=rediss://ENDPOINT:6379/0)."
  value       = aws_elasticache_replication_group.adherence.primary_endpoint_address
}

output "secrets" {
  description = "Secrets Manager secret of each environment variable, to fill with put-secret-value."
  value       = { for k, s in aws_secretsmanager_secret.env : k => s.arn }
}

output "audit_checkpoints_bucket" {
  value = aws_s3_bucket.audit.bucket
}

output "datasets_bucket" {
  value = aws_s3_bucket.datasets.bucket
}

output "prometheus_endpoint" {
  description = "Managed Prometheus query endpoint (the Grafana datasource of deploy/grafana, uid prometheus)."
  value       = aws_prometheus_workspace.main.prometheus_endpoint
}

output "codedeploy" {
  value = { app = aws_codedeploy_app.main.name, groups = { for k, g in aws_codedeploy_deployment_group.api : k => g.deployment_group_name } }
}
