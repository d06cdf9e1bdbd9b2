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
          "appVersion" "0.1.0") | nindent 4 }}

"sweeper" is a lockSweeper values block (see values.yaml); "volumeName" is the
pod volume that holds OpenClaw's state; it is mounted at /home/node/.openclaw.
*/}}
{{- define "openclaw-lock-sweeper.initContainer" -}}
{{- $s := .sweeper -}}
- name: lock-sweeper
  image: {{ include "openclaw-lock-sweeper.image" (list $s.image .appVersion) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
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
the init containers. Same arguments as the init container template.
*/}}
{{- define "openclaw-lock-sweeper.watchContainer" -}}
{{- $s := .sweeper -}}
- name: lock-sweeper-watch
  image: {{ include "openclaw-lock-sweeper.image" (list $s.image .appVersion) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  restartPolicy: Always
  args:
    {{- toYaml (concat (list "--watch" $s.watch.interval "--min-age" $s.watch.minAge) $s.extraArgs) | nindent 4 }}
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

{{- define "openclaw-lock-sweeper.env" -}}
- name: OPENCLAW_STATE_DIR
  value: /home/node/.openclaw
- name: LOCK_SWEEPER_BEST_EFFORT
  value: {{ .bestEffort | quote }}
- name: LOG_FORMAT
  value: {{ .logFormat | quote }}
{{- with .env }}
{{ toYaml . }}
{{- end }}
{{- end -}}
