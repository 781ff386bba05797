# Alerts: the SLO rules of deploy/prometheus/alerts.yml evaluated by
# Amazon Managed Service for Prometheus on the metrics the collectors
# write (the same rules promtool tests in .ci/run), and CloudWatch alarms
# on what AWS measures (load balancers, databases). Both notify one SNS
# topic; CodeDeploy also rolls a deployment back on the 5xx alarm.

resource "aws_sns_topic" "alerts" {
  name = "${local.prefix}-alerts"
}

data "aws_iam_policy_document" "alerts_topic" {
  statement {
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["aps.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

resource "aws_sns_topic_subscription" "alerts_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_prometheus_workspace" "main" {
  alias = local.prefix
}

resource "aws_prometheus_rule_group_namespace" "alerts" {
  name         = "slo-alerts"
  workspace_id = aws_prometheus_workspace.main.id
  data         = file("${path.module}/../prometheus/alerts.yml")
}

resource "aws_prometheus_alert_manager_definition" "main" {
  workspace_id = aws_prometheus_workspace.main.id
  definition   = <<-EOT
    alertmanager_config: |
      route:
        receiver: sns
        group_by: [alertname, job]
        repeat_interval: 4h
      receivers:
        - name: sns
          sns_configs:
            - topic_arn: ${aws_sns_topic.alerts.arn}
              sigv4:
                region: ${var.region}
              subject: '{{ .CommonLabels.severity }}: {{ .CommonLabels.alertname }}'
  EOT
}

# Availability SLO 99.9% as the load balancer sees it (it also counts
# what never reached a task): 5xx over requests above 0.1% in 3 of 5
# minutes. CodeDeploy watches it during a deployment, whose canary takes
# 10% of the traffic for 5 minutes (alb.tf): an alarm needing 10 minutes
# could not fire before the new tasks took all of it.
resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  for_each            = local.products
  alarm_name          = "${local.prefix}-${each.key}-api-5xx"
  alarm_description   = "${each.key}: more than 0.1% of requests answered 5xx (target or load balancer)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0.001
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  metric_query {
    id          = "ratio"
    expression  = "(FILL(t5xx, 0) + FILL(lb5xx, 0)) / MAX([requests, 1])"
    label       = "5xx share"
    return_data = true
  }
  metric_query {
    id = "t5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.api[each.key].arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }
  metric_query {
    id = "lb5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.api[each.key].arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }
  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = aws_lb.api[each.key].arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }
}

# The same share for each target group's tasks alone: during a deployment
# the canary's. Its 10% of the traffic is diluted tenfold in the load
# balancer's share above, so new tasks failing one request in 200 (0.5%)
# would show as 0.05% there and never roll back; here it is 0.5% of the
# requests they answered. Only targets' 5xx: what the load balancer
# answers itself is not counted per target group. An idle group (the
# color not serving) has no data, which is not breaching.
resource "aws_cloudwatch_metric_alarm" "api_5xx_target_group" {
  for_each            = local.api_target_groups
  alarm_name          = "${local.prefix}-${each.key}-api-5xx"
  alarm_description   = "${each.key}: more than 0.1% of the requests the ${each.key} tasks answered were 5xx (the canary during a deployment)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0.001
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  metric_query {
    id          = "ratio"
    expression  = "FILL(t5xx, 0) / MAX([requests, 1])"
    label       = "5xx share of ${each.key}"
    return_data = true
  }
  metric_query {
    id = "t5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.api[each.value.product].arn_suffix, TargetGroup = aws_lb_target_group.api[each.key].arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }
  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = aws_lb.api[each.value.product].arn_suffix, TargetGroup = aws_lb_target_group.api[each.key].arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "api_latency" {
  for_each            = local.products
  alarm_name          = "${local.prefix}-${each.key}-api-latency"
  alarm_description   = "${each.key}: p99 response time above 1 s for 10 minutes"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = { LoadBalancer = aws_lb.api[each.key].arn_suffix }
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 10
  threshold           = 1
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

# The live tasks are in the blue or the green target group, whichever the
# last deployment left serving: healthy tasks are counted over both (one
# group alone is empty after every other deployment).
resource "aws_cloudwatch_metric_alarm" "api_unhealthy" {
  for_each            = local.products
  alarm_name          = "${local.prefix}-${each.key}-api-no-healthy-task"
  alarm_description   = "${each.key}: no healthy API task behind the load balancer"
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]

  metric_query {
    id          = "healthy"
    expression  = "FILL(blue, 0) + FILL(green, 0)"
    label       = "healthy API tasks"
    return_data = true
  }
  dynamic "metric_query" {
    for_each = ["blue", "green"]
    content {
      id = metric_query.value
      metric {
        namespace   = "AWS/ApplicationELB"
        metric_name = "HealthyHostCount"
        dimensions  = { LoadBalancer = aws_lb.api[each.key].arn_suffix, TargetGroup = aws_lb_target_group.api["${each.key}-${metric_query.value}"].arn_suffix }
        period      = 60
        stat        = "Minimum"
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  for_each            = local.products
  alarm_name          = "${local.prefix}-${each.key}-db-cpu"
  alarm_description   = "${each.key}: database writer CPU above 80% for 15 minutes"
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBClusterIdentifier = aws_rds_cluster.main[each.key].cluster_identifier, Role = "WRITER" }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = 80
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "db_replica_lag" {
  for_each            = local.products
  alarm_name          = "${local.prefix}-${each.key}-db-replica-lag"
  alarm_description   = "${each.key}: the reader that would take over trails the writer by more than 5 s"
  namespace           = "AWS/RDS"
  metric_name         = "AuroraReplicaLagMaximum"
  dimensions          = { DBClusterIdentifier = aws_rds_cluster.main[each.key].cluster_identifier }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 5000
  comparison_operator = "GreaterThanThreshold"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}
