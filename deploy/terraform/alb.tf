# A load balancer per product: HTTPS on 443 to the live (blue) target
# group, HTTP redirected, and CodeDeploy's test listener on 8443 where the
# new (green) tasks are smoke-tested before traffic moves.

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each          = local.products
  security_group_id = aws_security_group.alb[each.key].id
  description       = "HTTP from the internet, redirected to HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_lb" "api" {
  for_each                   = local.products
  name                       = "${local.prefix}-${each.key}"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb[each.key].id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  idle_timeout               = 60
}

locals {
  # Each product's two target groups, "adherence-blue" and so on: the live
  # one and the one a deployment's new tasks register in.
  api_target_groups = merge([
    for product, p in local.products : {
      for color in ["blue", "green"] : "${product}-${color}" => { product = product, port = p.port }
    }
  ]...)
}

resource "aws_lb_target_group" "api" {
  for_each    = local.api_target_groups
  name        = "mp-${var.environment}-${each.key}" # at most 32 characters
  port        = each.value.port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  # Longer than SHUTDOWN_DRAIN (5 s): a stopping task fails /readyz
  # first, then finishes what it holds.
  deregistration_delay = 30

  health_check {
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "http" {
  for_each          = local.products
  load_balancer_arn = aws_lb.api[each.key].arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  for_each          = local.products
  load_balancer_arn = aws_lb.api[each.key].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arns[each.key]

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api["${each.key}-blue"].arn
  }

  lifecycle {
    ignore_changes = [default_action] # CodeDeploy swaps blue and green
  }
}

resource "aws_lb_listener" "test" {
  for_each          = local.products
  load_balancer_arn = aws_lb.api[each.key].arn
  port              = 8443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arns[each.key]

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api["${each.key}-blue"].arn
  }

  lifecycle {
    ignore_changes = [default_action]
  }
}

resource "aws_codedeploy_app" "main" {
  name             = local.prefix
  compute_platform = "ECS"
}

# Blue/green with a canary: 10% of the traffic on the new tasks for five
# minutes, then all of it; the old tasks are kept 15 minutes for a fast
# rollback. A 5xx alarm on the canary's target group (or on the whole
# load balancer) rolls back by itself. Migrations ran
# before (the pipeline's migrate task), so they must keep the old version
# working: add columns and tables, drop them a release later.
resource "aws_codedeploy_deployment_group" "api" {
  for_each               = local.products
  app_name               = aws_codedeploy_app.main.name
  deployment_group_name  = "${each.key}-api"
  service_role_arn       = aws_iam_role.codedeploy.arn
  deployment_config_name = "CodeDeployDefault.ECSCanary10Percent5Minutes"

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
  }

  alarm_configuration {
    enabled = true
    # The load balancer's share and each target group's: the canary's
    # own errors roll it back even while they are a tenth of the traffic.
    alarms = concat([aws_cloudwatch_metric_alarm.api_5xx[each.key].alarm_name],
    [for k, a in aws_cloudwatch_metric_alarm.api_5xx_target_group : a.alarm_name if local.api_target_groups[k].product == each.key])
  }

  blue_green_deployment_config {
    deployment_ready_option {
      action_on_timeout = "CONTINUE_DEPLOYMENT"
    }
    terminate_blue_instances_on_deployment_success {
      action                           = "TERMINATE"
      termination_wait_time_in_minutes = 15
    }
  }

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  ecs_service {
    cluster_name = aws_ecs_cluster.main.name
    service_name = aws_ecs_service.api[each.key].name
  }

  load_balancer_info {
    target_group_pair_info {
      prod_traffic_route {
        listener_arns = [aws_lb_listener.https[each.key].arn]
      }
      test_traffic_route {
        listener_arns = [aws_lb_listener.test[each.key].arn]
      }
      target_group {
        name = aws_lb_target_group.api["${each.key}-blue"].name
      }
      target_group {
        name = aws_lb_target_group.api["${each.key}-green"].name
      }
    }
  }
}
