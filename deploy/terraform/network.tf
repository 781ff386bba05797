# Who may talk to whom: the internet to the load balancers (HTTPS), the
# load balancers to the API tasks, the tasks to the databases and Redis.
# The tasks reach AWS APIs, Twilio and FCM through the VPC's NAT.

resource "aws_security_group" "alb" {
  for_each    = local.products
  name        = "${local.prefix}-${each.key}-alb"
  description = "${each.key} load balancer"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = local.products
  security_group_id = aws_security_group.alb[each.key].id
  description       = "HTTPS from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# CodeDeploy's test listener: the new (green) tasks answer on it before
# traffic moves, for the pipeline's smoke test from inside the VPC.
resource "aws_vpc_security_group_ingress_rule" "alb_test" {
  for_each          = local.products
  security_group_id = aws_security_group.alb[each.key].id
  description       = "blue/green test listener, from the VPC"
  cidr_ipv4         = data.aws_vpc.main.cidr_block
  ip_protocol       = "tcp"
  from_port         = 8443
  to_port           = 8443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  for_each                     = local.products
  security_group_id            = aws_security_group.alb[each.key].id
  description                  = "to the API tasks"
  referenced_security_group_id = aws_security_group.tasks[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_security_group" "tasks" {
  for_each    = local.products
  name        = "${local.prefix}-${each.key}-tasks"
  description = "${each.key} API, worker and migration tasks"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  for_each                     = local.products
  security_group_id            = aws_security_group.tasks[each.key].id
  description                  = "from the load balancer"
  referenced_security_group_id = aws_security_group.alb[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "tasks_out" {
  for_each          = local.products
  security_group_id = aws_security_group.tasks[each.key].id
  description       = "databases, Redis, AWS APIs and notification providers (HTTPS through the NAT)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_security_group" "db" {
  for_each    = local.products
  name        = "${local.prefix}-${each.key}-db"
  description = "${each.key} Aurora PostgreSQL"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_tasks" {
  for_each                     = local.products
  security_group_id            = aws_security_group.db[each.key].id
  description                  = "PostgreSQL from the product's tasks only"
  referenced_security_group_id = aws_security_group.tasks[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_security_group" "redis" {
  name        = "${local.prefix}-redis"
  description = "adherence ElastiCache Redis"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_tasks" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis (TLS) from the adherence tasks"
  referenced_security_group_id = aws_security_group.tasks["adherence"].id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
