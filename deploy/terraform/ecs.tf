resource "aws_ecs_cluster" "main" {
  name = local.prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "task" {
  for_each          = local.tasks
  name              = "/ecs/${local.prefix}/${each.key}"
  retention_in_days = var.log_retention_days
}

locals {
  # The collector beside each API and worker task: OTLP traces from the
  # binary to X-Ray, and the binary's /metrics scraped under the job name
  # the alerts and dashboards group by (adherence-api, …) and written to
  # Managed Prometheus, each task's series told apart by its ECS task ARN.
  collector_config = {
    for key, t in local.tasks : key => yamlencode({
      extensions = {
        sigv4auth = { region = var.region, service = "aps" }
      }
      receivers = {
        otlp = { protocols = { http = { endpoint = "127.0.0.1:4318" } } }
        prometheus = {
          config = {
            scrape_configs = [{
              job_name        = key
              scrape_interval = "30s"
              static_configs  = [{ targets = ["127.0.0.1:${t.port}"] }]
            }]
          }
        }
      }
      processors = {
        batch             = {}
        resourcedetection = { detectors = ["env", "ecs"] }
      }
      exporters = {
        awsxray = { region = var.region }
        prometheusremotewrite = {
          endpoint                         = "${aws_prometheus_workspace.main.prometheus_endpoint}api/v1/remote_write"
          auth                             = { authenticator = "sigv4auth" }
          resource_to_telemetry_conversion = { enabled = true }
        }
      }
      service = {
        extensions = ["sigv4auth"]
        pipelines = {
          traces  = { receivers = ["otlp"], processors = ["resourcedetection", "batch"], exporters = ["awsxray"] }
          metrics = { receivers = ["prometheus"], processors = ["resourcedetection", "batch"], exporters = ["prometheusremotewrite"] }
        }
      }
    })
  }

  containers = {
    for key, t in local.tasks : key => concat([
      {
        name      = t.product
        image     = var.images[t.product]
        command   = t.command
        essential = true
        # serve and worker both listen on LISTEN_ADDR (the worker for
        # health and metrics only); migrate exits when done.
        portMappings = t.role == "migrate" ? [] : [{ containerPort = t.port, protocol = "tcp" }]
        environment = [
          for k, v in merge(local.products[t.product].environment, {
            LISTEN_ADDR = ":${t.port}"
            }, t.role == "migrate" ? {} : {
            OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318"
            OTEL_SERVICE_NAME           = key
          }) : { name = k, value = v }
        ]
        secrets = [
          for name in local.products[t.product].secrets : {
            name      = name
            valueFrom = aws_secretsmanager_secret.env["${t.product}/${name}"].arn
          }
        ]
        # The image has no shell: the binary probes its own /readyz.
        healthCheck = t.role == "migrate" ? null : {
          command     = ["CMD", "/${t.product}", "healthcheck"]
          interval    = 15
          timeout     = 5
          retries     = 3
          startPeriod = 30
        }
        # SIGTERM: readiness fails for SHUTDOWN_DRAIN, requests in flight
        # finish, workers stop; then SIGKILL.
        stopTimeout            = 30
        readonlyRootFilesystem = false
        user                   = "65532:65532"
        logConfiguration = {
          logDriver = "awslogs"
          options = {
            awslogs-group         = aws_cloudwatch_log_group.task[key].name
            awslogs-region        = var.region
            awslogs-stream-prefix = t.role
          }
        }
      }],
      t.role == "migrate" ? [] : [{
        name      = "otel-collector"
        image     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
        essential = false
        environment = [
          { name = "AOT_CONFIG_CONTENT", value = local.collector_config[key] }
        ]
        logConfiguration = {
          logDriver = "awslogs"
          options = {
            awslogs-group         = aws_cloudwatch_log_group.task[key].name
            awslogs-region        = var.region
            awslogs-stream-prefix = "collector"
          }
        }
      }]
    )
  }

  task_size = {
    api     = { cpu = 1024, memory = 2048 }
    worker  = { cpu = 1024, memory = 2048 }
    migrate = { cpu = 512, memory = 1024 }
  }
}

# A task definition per product and role. The pipeline registers new
# revisions with a new image (CodeDeploy for the API services, a rolling
# update for the workers, run-task for migrate), so the services ignore
# the revision Terraform last wrote.
resource "aws_ecs_task_definition" "main" {
  for_each                 = local.tasks
  family                   = "${local.prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  # medsales loads (NPPES 11 GB, Part D 28M rows) stream with constant
  # memory (under 1 GiB); its worker gets more CPU for parsing.
  cpu                   = each.value.product == "medsales" && each.value.role == "worker" ? 2048 : local.task_size[each.value.role].cpu
  memory                = each.value.product == "medsales" && each.value.role == "worker" ? 4096 : local.task_size[each.value.role].memory
  execution_role_arn    = aws_iam_role.execution[each.value.product].arn
  task_role_arn         = aws_iam_role.task[each.value.product].arn
  container_definitions = jsonencode(local.containers[each.key])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
}

resource "aws_ecs_service" "api" {
  for_each                          = local.products
  name                              = "${each.key}-api"
  cluster                           = aws_ecs_cluster.main.id
  task_definition                   = aws_ecs_task_definition.main["${each.key}-api"].arn
  desired_count                     = var.api_desired_count[each.key]
  launch_type                       = "FARGATE"
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"

  deployment_controller {
    type = "CODE_DEPLOY"
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks[each.key].id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.api["${each.key}-blue"].arn
    container_name   = each.key
    container_port   = each.value.port
  }

  lifecycle {
    # CodeDeploy owns the revision and the target group after the first
    # deployment; autoscaling owns the count.
    ignore_changes = [task_definition, load_balancer, desired_count]
  }
}

resource "aws_ecs_service" "worker" {
  for_each        = local.products
  name            = "${each.key}-worker"
  cluster         = aws_ecs_cluster.main.id
  task_definition = aws_ecs_task_definition.main["${each.key}-worker"].arn
  desired_count   = var.worker_desired_count[each.key]
  launch_type     = "FARGATE"
  propagate_tags  = "SERVICE"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks[each.key].id]
    assign_public_ip = false
  }

  lifecycle {
    ignore_changes = [task_definition]
  }
}

# The API services scale on CPU between their desired count and four
# times it (the 08:00 reminder and event spike).
resource "aws_appautoscaling_target" "api" {
  for_each           = local.products
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.api[each.key].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.api_desired_count[each.key]
  max_capacity       = var.api_desired_count[each.key] * 4
}

resource "aws_appautoscaling_policy" "api_cpu" {
  for_each           = local.products
  name               = "${local.prefix}-${each.key}-api-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.api[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.api[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = 60
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
