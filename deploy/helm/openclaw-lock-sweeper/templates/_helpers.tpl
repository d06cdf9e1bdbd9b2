{{/* Name prefix of this release's objects. */}}
{{- define "openclaw-lock-sweeper.fullname" -}}
{{- if contains "openclaw" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-openclaw" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "openclaw-lock-sweeper.labels" -}}
app.kubernetes.io/name: openclaw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* An image reference from a repository/tag/digest block. */}}
{{- define "openclaw-lock-sweeper.image" -}}
{{- $image := index . 0 -}}
{{- $defaultTag := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $defaultTag $image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/*
The sweeper's init container, for this chart and for charts that include it:

  initContainers:
    {{- include "openclaw-lock-sweeper.initContainer" (dict
          "sweeper" .Values.lockSweeper
          "volumeName" "openclaw-home"
          "appVersion" "0.2.0") | nindent 4 }}

"sweeper" is a lockSweeper values block (see values.yaml); "volumeName" is the
pod volume that holds OpenClaw's state; it is mounted at /home/node/.openclaw.
*/}}
{{- define "openclaw-lock-sweeper.initContainer" -}}
{{- $s := .sweeper -}}
- name: lock-sweeper
  image: {{ include "openclaw-lock-sweeper.image" (list $s.image .appVersion) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  # A failed sweep's last log lines become the container's termination
  # message, shown by `kubectl describe pod` and `kubectl get pod -o yaml`.
  terminationMessagePolicy: FallbackToLogsOnError
  {{- $args := concat $s.args $s.extraArgs }}
  {{- with $args }}
  args:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  env:
    {{- include "openclaw-lock-sweeper.env" $s | nindent 4 }}
  securityContext:
    {{- toYaml $s.securityContext | nindent 4 }}
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  volumeMounts:
    - name: {{ .volumeName }}
      mountPath: /home/node/.openclaw
{{- end -}}

{{/*
The watch sidecar, a native sidecar (Kubernetes 1.29+): list it last among
the init containers. Its own --watch and --min-age, then the same args and
extraArgs as the other templates (a --min-age there wins: the last counts).
With metrics.enabled in the block, it serves Prometheus metrics on
metrics.port (--metrics-listen, a container port named "metrics").
*/}}
{{- define "openclaw-lock-sweeper.watchContainer" -}}
{{- $s := .sweeper -}}
{{- $metrics := default dict $s.metrics -}}
{{- $own := list "--watch" $s.watch.interval "--min-age" $s.watch.minAge -}}
{{- if $metrics.enabled }}
{{- $own = concat $own (list "--metrics-listen" (printf "0.0.0.0:%v" $metrics.port)) -}}
{{- end }}
- name: lock-sweeper-watch
  image: {{ include "openclaw-lock-sweeper.image" (list $s.image .appVersion) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  restartPolicy: Always
  terminationMessagePolicy: FallbackToLogsOnError
  args:
    {{- toYaml (concat $own $s.args $s.extraArgs) | nindent 4 }}
  {{- if $metrics.enabled }}
  ports:
    - name: metrics
      containerPort: {{ $metrics.port }}
      protocol: TCP
  {{- end }}
  env:
    {{- include "openclaw-lock-sweeper.env" $s | nindent 4 }}
  securityContext:
    {{- toYaml $s.securityContext | nindent 4 }}
  resources:
    {{- toYaml $s.watch.resources | nindent 4 }}
  volumeMounts:
    - name: {{ .volumeName }}
      mountPath: /home/node/.openclaw
{{- end -}}

{{/*
Wrapper mode, in two parts for charts that include them: the init container
that installs the sweeper on the "lock-sweeper-bin" emptyDir volume (add that
volume to the pod), and the gateway's command prefixed with the sweeper:

  initContainers:
    {{- include "openclaw-lock-sweeper.installContainer" (dict "sweeper" .Values.lockSweeper "appVersion" "0.2.0") | nindent 4 }}
  containers:
    - name: gateway
      command:
        {{- include "openclaw-lock-sweeper.wrap" (dict "sweeper" .Values.lockSweeper "command" (list "node" "/app/dist/index.js" "gateway" "run")) | nindent 8 }}
      # The wrapper's own ERROR lines, should it exit instead of starting
      # the gateway, as the container's termination message.
      terminationMessagePolicy: FallbackToLogsOnError
      {{- with .Values.lockSweeper.env }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: lock-sweeper-bin
          mountPath: /opt/lock-sweeper
          readOnly: true
  volumes:
    - name: lock-sweeper-bin
      emptyDir:
        sizeLimit: 16Mi

The wrapper takes bestEffort, logFormat, args and extraArgs as flags; the
values' env goes into the gateway's env (add it to yours, as above), since
that is where the wrapper runs. It finds the state dir as OpenClaw does,
from the gateway's HOME (or its OPENCLAW_STATE_DIR).
*/}}
{{- define "openclaw-lock-sweeper.installContainer" -}}
{{- $s := .sweeper -}}
- name: lock-sweeper-install
  image: {{ include "openclaw-lock-sweeper.image" (list $s.image .appVersion) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  terminationMessagePolicy: FallbackToLogsOnError
  args:
    - --install
    - /opt/lock-sweeper
  securityContext:
    {{- toYaml $s.securityContext | nindent 4 }}
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  volumeMounts:
    - name: lock-sweeper-bin
      mountPath: /opt/lock-sweeper
{{- end -}}

{{- define "openclaw-lock-sweeper.wrap" -}}
{{- $s := .sweeper -}}
{{- $flags := concat $s.args $s.extraArgs -}}
{{- if $s.bestEffort }}{{ $flags = append $flags "--best-effort" }}{{ end -}}
{{- $flags = concat $flags (list "--log-format" $s.logFormat) -}}
{{- toYaml (concat (list "/opt/lock-sweeper/openclaw-lock-sweeper") $flags (list "--") .command) }}
{{- end -}}

{{- define "openclaw-lock-sweeper.env" -}}
- name: OPENCLAW_STATE_DIR
  value: /home/node/.openclaw
- name: LOCK_SWEEPER_BEST_EFFORT
  value: {{ .bestEffort | quote }}
- name: LOCK_SWEEPER_LOG_FORMAT
  value: {{ .logFormat | quote }}
{{- with .env }}
{{ toYaml . }}
{{- end }}
{{- end -}}
