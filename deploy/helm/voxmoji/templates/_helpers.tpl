{{/* Names and labels. */}}
{{- define "voxmoji.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "voxmoji.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "voxmoji.labels" -}}
{{ include "voxmoji.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* An image by its key under .Values.image: (list $ "web"). */}}
{{- define "voxmoji.image" -}}
{{- $root := index . 0 -}}
{{- $repository := index $root.Values.image (index . 1) | required (printf "image.%s is required" (index . 1)) -}}
{{- $registry := $root.Values.image.registry -}}
{{- printf "%s%s:%s" (ternary (printf "%s/" $registry) "" (ne $registry "")) $repository ($root.Values.image.tag | default $root.Chart.AppVersion) -}}
{{- end -}}

{{- define "voxmoji.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "voxmoji.fullname" .)) -}}
{{- end -}}

{{/* The ConfigMap's data: the settings every container reads. */}}
{{- define "voxmoji.configData" -}}
{{- $storage := .Values.config.VOXMOJI_MEDIA_STORAGE | default "local" -}}
{{- $_ := required "config.PUBLIC_BASE_URL is required: the API's public URL, e.g. https://api.example.com" .Values.config.PUBLIC_BASE_URL -}}
{{- if not (has $storage (list "local" "s3")) -}}
{{- fail (printf "config.VOXMOJI_MEDIA_STORAGE=%s: use s3 or local" $storage) -}}
{{- end -}}
{{- if and (eq $storage "s3") (not .Values.config.S3_BUCKET) -}}
{{- fail "config.S3_BUCKET is required with VOXMOJI_MEDIA_STORAGE=s3 (and config.S3_ENDPOINT_URL unless it is AWS S3)" -}}
{{- end -}}
{{- if and (eq $storage "local") (not .Values.media.localClaim) -}}
{{- fail "VOXMOJI_MEDIA_STORAGE=local needs media.localClaim: a ReadWriteMany PersistentVolumeClaim that web, Nginx and every worker mount (or use s3)" -}}
{{- end -}}
{{- range $name, $value := .Values.config }}
{{- if ne (toString $value) "" }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
VOXMOJI_VAR_DIR: {{ .Values.varDir | quote }}
{{- if eq $storage "local" }}
VOXMOJI_MEDIA_ROOT: {{ .Values.media.root | quote }}
{{- end }}
{{- end -}}

{{/* The Secret's data (base64). Required values fail the install, naming what to set (the rest of
backend/config.py's checks, e.g. WeChat's, stop the pods at start with the variable to set). */}}
{{- define "voxmoji.secretData" -}}
{{- $secrets := .Values.secrets -}}
{{- range $name := list "VOXMOJI_SECRET_KEY" "VOXMOJI_MEDIA_SECRET" }}
{{- $value := required (printf "secrets.%s is required: at least 32 random bytes, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(48))'" $name) (index $secrets $name) }}
{{- if lt (len $value) 32 }}
{{- fail (printf "secrets.%s has %d bytes; use at least 32 random bytes" $name (len $value)) }}
{{- end }}
{{- end }}
{{- $_ := required "secrets.DATABASE_URL is required, e.g. postgresql+psycopg://voxmoji:PASSWORD@postgres:5432/voxmoji" $secrets.DATABASE_URL }}
{{- $_ = required "secrets.REDIS_URL is required, e.g. redis://:PASSWORD@redis:6379/0" $secrets.REDIS_URL }}
{{- range $name, $value := $secrets }}
{{- if $value }}
{{ $name }}: {{ $value | toString | b64enc | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Environment from the ConfigMap and the Secret (all VoxMoji containers but Nginx). */}}
{{- define "voxmoji.envFrom" -}}
- configMapRef:
    name: {{ include "voxmoji.fullname" . }}-config
- secretRef:
    name: {{ include "voxmoji.secretName" . }}
{{- end -}}

{{/* A map of variables as a container's env list. */}}
{{- define "voxmoji.env" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Volumes every VoxMoji pod has: the state directory, /tmp, and the local media volume when used. */}}
{{- define "voxmoji.volumes" -}}
- name: var
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- if eq (.Values.config.VOXMOJI_MEDIA_STORAGE | default "local") "local" }}
- name: media
  persistentVolumeClaim:
    claimName: {{ .Values.media.localClaim }}
{{- end }}
{{- end -}}

{{- define "voxmoji.volumeMounts" -}}
- name: var
  mountPath: {{ .Values.varDir }}
- name: tmp
  mountPath: /tmp
{{- if eq (.Values.config.VOXMOJI_MEDIA_STORAGE | default "local") "local" }}
- name: media
  mountPath: {{ .Values.media.root }}
{{- end }}
{{- end -}}

{{/* What every pod spec says (pull secrets, security context). */}}
{{- define "voxmoji.podCommon" -}}
# No VOXMOJI_WEB_PORT=tcp://… and the like from the namespace's Services: they would share the settings' prefix.
enableServiceLinks: false
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Placement of a component: (its values). */}}
{{- define "voxmoji.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod annotations: the operator's, and checksums that roll the pods when the settings change. */}}
{{- define "voxmoji.podAnnotations" -}}
checksum/config: {{ include "voxmoji.configData" . | sha256sum }}
{{- if not .Values.existingSecret }}
checksum/secrets: {{ include "voxmoji.secretData" . | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}
