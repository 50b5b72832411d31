#!/bin/bash
# GAS ${Role} instance: install the released GAS, write its settings, start its services.
# An Fn::Sub template: deploy/aws/generate.py puts it into each launch template of gas.yaml
# (edit it here, then run the generator). No secret is in here: each service fetches them
# from Secrets Manager when it starts.
set -euo pipefail
exec > >(tee -a /var/log/gas-user-data.log) 2>&1

# gcc and the headers: installing GAS from source (a git tag, an sdist) compiles the engine's
# kernel here; `gas --version` (in this log) says which engine path the instance runs
dnf install -y python3.11 python3.11-pip python3.11-devel gcc
id gas >/dev/null 2>&1 || useradd --system --home-dir /var/lib/gas --shell /sbin/nologin gas
python3.11 -m venv /opt/gas
/opt/gas/bin/pip install --quiet --upgrade pip
/opt/gas/bin/pip install --quiet '${GasPackage}'
/opt/gas/bin/gas --version

install -d -m 0755 /etc/gas /usr/local/libexec
cat > /etc/gas/gas.env <<'SETTINGS'
GAS_DATA_DIR=/var/lib/gas
GAS_BASE_URL=https://${DomainName}
GAS_STORAGE_URL=s3://${StorageBucketName}/${StoragePrefix}
GAS_COLDSTORE_URL=s3-glacier://${ColdBucketName}/${ColdPrefix}
GAS_QUEUE_URL=sqs://${QueuePrefix}
GAS_QUEUE_LEASE_SECONDS=${QueueLeaseSeconds}
GAS_QUEUE_MAX_ATTEMPTS=${QueueMaxAttempts}
GAS_MAIL_URL=ses://
GAS_MAIL_FROM=${MailFrom}
GAS_BILLING=${Billing}
GAS_STRIPE_PRICE_ID=${StripePriceId}
GAS_AWS_REGION=${AWS::Region}
GAS_WEB_TRUSTED_PROXY=*
GAS_AWS_SCALE_IN_PROTECTION=${ScaleInProtection}
GAS_LOG_LEVEL=${LogLevel}
SETTINGS

# gas-secrets DIR, run by each service before it starts (as the gas user): the secrets into
# DIR, the service's runtime directory (a tmpfs only gas can read), as files of mode 0600.
cat > /usr/local/libexec/gas-secrets <<'SCRIPT'
#!/bin/bash
set -euo pipefail
umask 077
cd "$1"
get() {
  aws secretsmanager get-secret-value --region '${AWS::Region}' --secret-id "$1" \
    --query SecretString --output text
}
get '${SecretKeySecret}' > secret_key
get '${DatabaseSecretArn}' | /opt/gas/bin/python -c '
import json, sys
from urllib.parse import quote
s = json.load(sys.stdin)
user, password = quote(s["username"], safe=""), quote(s["password"], safe="")
print(f"postgresql://{user}:{password}@{sys.argv[1]}:{sys.argv[2]}/gas")
' '${DatabaseAddress}' '${DatabasePort}' > database_url
if [ '${Billing}' = stripe ]; then
  get '${StripeSecretName}' > stripe.json
  /opt/gas/bin/python -c 'import json, sys; print(json.load(sys.stdin)["secret_key"])' \
    < stripe.json > stripe_secret_key
  /opt/gas/bin/python -c 'import json, sys; print(json.load(sys.stdin)["webhook_secret"])' \
    < stripe.json > stripe_webhook_secret
  rm -f stripe.json
fi
SCRIPT
chmod 0755 /usr/local/libexec/gas-secrets

# unit NAME STOP_TIMEOUT_SECONDS GAS_ARGUMENTS...: a systemd service running `gas ARGUMENTS`.
# Stopping sends SIGTERM to gas alone (KillMode=mixed): a worker finishes the job in hand, or
# gives it back, before it exits; systemd waits up to STOP_TIMEOUT_SECONDS.
services=()
unit() {
  local name=$1 timeout=$2 run=/run/gas-$1
  shift 2
  local files="GAS_SECRET_KEY_FILE=$run/secret_key GAS_DATABASE_URL_FILE=$run/database_url"
  if [ '${Billing}' = stripe ]; then
    files="$files GAS_STRIPE_SECRET_KEY_FILE=$run/stripe_secret_key"
    files="$files GAS_STRIPE_WEBHOOK_SECRET_FILE=$run/stripe_webhook_secret"
  fi
  cat > "/etc/systemd/system/gas-$name.service" <<UNIT
[Unit]
Description=GAS $name
After=network-online.target
Wants=network-online.target

[Service]
User=gas
Group=gas
EnvironmentFile=/etc/gas/gas.env
Environment=$files
StateDirectory=gas
StateDirectoryMode=0700
RuntimeDirectory=gas-$name
RuntimeDirectoryMode=0700
ExecStartPre=/usr/local/libexec/gas-secrets $run
ExecStart=/opt/gas/bin/gas $*
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=$timeout
Restart=always
RestartSec=5
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true

[Install]
WantedBy=multi-user.target
UNIT
  services+=("gas-$name.service")
}
${Units}

# Groups with a termination lifecycle hook: when the group puts this instance in
# Terminating:Wait (scale-in, instance refresh, rebalancing), stop the gas-* services (SIGTERM:
# the job in hand finishes or is given back), then let the instance go.
if [ '${Drain}' = true ]; then
  cat > /usr/local/libexec/gas-drain <<'SCRIPT'
#!/bin/bash
set -uo pipefail
imds=http://169.254.169.254/latest
token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/api/token")
instance=$(curl -sf -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/instance-id")
while sleep 20; do
  state=$(aws autoscaling describe-auto-scaling-instances --region '${AWS::Region}' \
    --instance-ids "$instance" --output text \
    --query 'AutoScalingInstances[0].[LifecycleState,AutoScalingGroupName]') || continue
  set -- $state  # LifecycleState AutoScalingGroupName
  if [ "$1" = Terminating:Wait ]; then
    systemctl stop 'gas-*.service'
    aws autoscaling complete-lifecycle-action --region '${AWS::Region}' \
      --lifecycle-hook-name gas-drain --auto-scaling-group-name "$2" \
      --instance-id "$instance" --lifecycle-action-result CONTINUE
    exit 0
  fi
done
SCRIPT
  chmod 0755 /usr/local/libexec/gas-drain
  cat > /etc/systemd/system/gasdrain.service <<'UNIT'
[Unit]
Description=GAS: drain this instance when its group terminates it
After=network-online.target

[Service]
ExecStart=/usr/local/libexec/gas-drain
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
  services+=(gasdrain.service)
fi

systemctl daemon-reload
systemctl enable --now "${!services[@]}"
