data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The execution role (ECS itself: pull the image, write the logs, read
# the product's secrets into the environment), one per product so that
# neither can read the other's secrets.
resource "aws_iam_role" "execution" {
  for_each           = local.products
  name               = "${local.prefix}-${each.key}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  for_each   = local.products
  role       = aws_iam_role.execution[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  for_each = local.products
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for name in each.value.secrets : aws_secretsmanager_secret.env["${each.key}/${name}"].arn]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  for_each = local.products
  name     = "secrets"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution_secrets[each.key].json
}

# The task role (the running binaries and their collector): traces to
# X-Ray and metrics to Managed Prometheus for both; SMS through SNS and the
# audit checkpoints for adherence; the data bucket, read-only, for medsales.
resource "aws_iam_role" "task" {
  for_each           = local.products
  name               = "${local.prefix}-${each.key}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "task_xray" {
  for_each   = local.products
  role       = aws_iam_role.task[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_iam_role_policy_attachment" "task_prometheus" {
  for_each   = local.products
  role       = aws_iam_role.task[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess"
}

data "aws_iam_policy_document" "adherence_task" {
  # SMS to phone numbers is a Publish without a topic.
  statement {
    actions   = ["sns:Publish"]
    resources = ["*"]
  }
  # Audit checkpoints: written once, read by audit verify (a HEAD first:
  # GetObject's permission; ListBucket makes a missing key a 404).
  statement {
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.audit.arn}/adherence/*"]
  }
  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.audit.arn]
  }
  statement {
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "adherence_task" {
  name   = "sms"
  role   = aws_iam_role.task["adherence"].id
  policy = data.aws_iam_policy_document.adherence_task.json
}

data "aws_iam_policy_document" "medsales_task" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.datasets.arn}/*"]
  }
  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.datasets.arn]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "medsales_task" {
  name   = "datasets"
  role   = aws_iam_role.task["medsales"].id
  policy = data.aws_iam_policy_document.medsales_task.json
}

# CodeDeploy moves the API services' traffic between the blue and green
# target groups.
data "aws_iam_policy_document" "codedeploy_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "codedeploy" {
  name               = "${local.prefix}-codedeploy"
  assume_role_policy = data.aws_iam_policy_document.codedeploy_assume.json
}

resource "aws_iam_role_policy_attachment" "codedeploy" {
  role       = aws_iam_role.codedeploy.name
  policy_arn = "arn:aws:iam::aws:policy/AWSCodeDeployRoleForECS"
}
