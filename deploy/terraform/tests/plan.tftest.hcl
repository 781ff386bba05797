# `terraform test` (run by .ci/run where Terraform and the AWS provider
# are installed): applies the module to a mocked AWS provider (no account,
# no credentials, nothing created) and checks what the services would run.

mock_provider "aws" {
  mock_data "aws_vpc" {
    defaults = {
      cidr_block = "10.20.0.0/16"
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/mock/0123456789abcdef"
      arn_suffix = "app/mock/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mock/0123456789abcdef"
      arn_suffix = "targetgroup/mock/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_listener" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/mock/0123456789abcdef/0123456789abcdef"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mock-AbCdEf"
    }
  }
  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/mock"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:mock"
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = {
      arn    = "arn:aws:s3:::mock-bucket"
      bucket = "mock-bucket"
    }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:cluster/mock"
    }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/mock:1"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:mock"
    }
  }
  mock_resource "aws_prometheus_workspace" {
    defaults = {
      prometheus_endpoint = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-mock/"
    }
  }
}

variables {
  environment        = "prod"
  vpc_id             = "vpc-0123456789abcdef0"
  private_subnet_ids = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
  public_subnet_ids  = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
  images = {
    adherence = "123456789012.dkr.ecr.us-east-1.amazonaws.com/adherence:test"
    medsales  = "123456789012.dkr.ecr.us-east-1.amazonaws.com/medsales:test"
  }
  certificate_arns = {
    adherence = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000001"
    medsales  = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000002"
  }
  public_hosts = {
    adherence = "adherence.example.org"
    medsales  = "medsales.example.org"
  }
}

# Applied against the mock: the container definitions hold the ARNs and
# names of other resources, known only after an apply (mocked values).
run "services_run_the_products_roles" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.main["adherence-api"].container_definitions)[0].command == ["serve", "--workers=false", "--migrate=false"]
    error_message = "the adherence API tasks must run serve --workers=false --migrate=false"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.main["medsales-worker"].container_definitions)[0].command == ["worker", "--migrate=false"]
    error_message = "the medsales worker tasks must run worker --migrate=false"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.main["adherence-migrate"].container_definitions)[0].command == ["migrate"]
    error_message = "the migration task must run migrate"
  }
  assert {
    condition     = length(jsondecode(aws_ecs_task_definition.main["adherence-migrate"].container_definitions)) == 1
    error_message = "the migration task needs no collector"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.main["medsales-worker"].container_definitions)[0].environment, { name = "REJECTS_DIR", value = "/tmp/rejects" })
    error_message = "the medsales worker must write rejects where the image lets it (/tmp)"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.main["adherence-worker"].container_definitions)[0].environment, { name = "LISTEN_ADDR", value = ":8080" })
    error_message = "the adherence worker serves health and metrics on :8080"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.main["adherence-api"].container_definitions)[0].environment, { name = "PUBLIC_URL", value = "https://adherence.example.org" })
    error_message = "PUBLIC_URL must be the public host name (Twilio signatures)"
  }
  assert {
    condition     = contains([for s in jsondecode(aws_ecs_task_definition.main["adherence-api"].container_definitions)[0].secrets : s.name], "DATABASE_URL")
    error_message = "DATABASE_URL comes from Secrets Manager"
  }
  assert {
    condition     = !contains([for e in jsondecode(aws_ecs_task_definition.main["adherence-api"].container_definitions)[0].environment : e.name], "DATABASE_URL")
    error_message = "DATABASE_URL must not be a plain environment variable"
  }
  assert {
    condition     = yamldecode(jsondecode(aws_ecs_task_definition.main["medsales-api"].container_definitions)[1].environment[0].value).receivers.prometheus.config.scrape_configs[0].job_name == "medsales-api"
    error_message = "the collector must scrape under the job name the alerts group by"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.main["adherence-worker"].container_definitions)[0].environment, { name = "EMAIL_PROVIDERS", value = "none" })
    error_message = "e-mail goes through no provider unless the environment names one (the console provider would count messages sent)"
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.api_unhealthy["adherence"].metric_query) == 3
    error_message = "the no-healthy-task alarm counts healthy tasks over the blue and the green target group"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.api_5xx["adherence"].evaluation_periods * 60 <= 300
    error_message = "the 5xx alarm must be able to fire within the 5-minute canary, to roll the deployment back"
  }
  assert {
    condition     = toset(aws_codedeploy_deployment_group.api["adherence"].alarm_configuration[0].alarms) == toset(["medplatform-prod-adherence-api-5xx", "medplatform-prod-adherence-blue-api-5xx", "medplatform-prod-adherence-green-api-5xx"])
    error_message = "a deployment rolls back on the load balancer's 5xx share and on each of its target groups' (the canary's own)"
  }
  assert {
    condition     = alltrue([for q in aws_cloudwatch_metric_alarm.api_5xx_target_group["medsales-green"].metric_query : q.metric[0].dimensions.TargetGroup == aws_lb_target_group.api["medsales-green"].arn_suffix if length(q.metric) > 0])
    error_message = "a target group's 5xx alarm counts that target group's requests and errors only"
  }
  assert {
    condition     = aws_ecs_service.api["adherence"].deployment_controller[0].type == "CODE_DEPLOY"
    error_message = "the API services deploy blue/green through CodeDeploy"
  }
  assert {
    condition     = aws_lb_target_group.api["medsales-green"].health_check[0].path == "/readyz"
    error_message = "the load balancer checks /readyz"
  }
  assert {
    condition     = aws_lb_target_group.api["medsales-green"].port == 8081
    error_message = "medsales listens on 8081"
  }
  assert {
    condition     = aws_rds_cluster.main["adherence"].backup_retention_period == 35 && aws_rds_cluster.main["adherence"].deletion_protection
    error_message = "the adherence database keeps 35 days of point-in-time recovery and cannot be deleted by accident"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.main["adherence-worker"].container_definitions)[0].environment, { name = "BLOB_URL", value = "s3://medplatform-prod-audit-checkpoints-123456789012/adherence" })
    error_message = "the adherence workers checkpoint the audit chain to the Object Lock bucket"
  }
  assert {
    condition     = aws_s3_bucket_object_lock_configuration.audit.rule[0].default_retention[0].mode == "COMPLIANCE" && aws_s3_bucket.audit.object_lock_enabled
    error_message = "audit checkpoints are kept under Object Lock in compliance mode"
  }
  assert {
    condition     = length(aws_rds_cluster_instance.main) == 4
    error_message = "each cluster has a writer and a reader"
  }
  assert {
    condition     = aws_prometheus_rule_group_namespace.alerts.data == file("${path.module}/../prometheus/alerts.yml")
    error_message = "Managed Prometheus evaluates the alert rules of deploy/prometheus/alerts.yml"
  }
}

run "environment_name_is_bounded" {
  command = plan

  variables {
    environment = "production-east"
  }

  expect_failures = [var.environment]
}
