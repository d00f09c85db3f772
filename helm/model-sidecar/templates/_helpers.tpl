{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "model-sidecar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: release-chart unless the release name already holds the chart name.
*/}}
{{- define "model-sidecar.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "model-sidecar.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "model-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "model-sidecar.labels" -}}
helm.sh/chart: {{ include "model-sidecar.chart" . }}
{{ include "model-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: model-sidecar
{{- end }}

{{- define "model-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "model-sidecar.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The sidecar image reference: repository:tag, the tag defaulting to the chart's appVersion.
Takes a dict with "sidecar" (the sidecar values) and "appVersion".
*/}}
{{- define "model-sidecar.image" -}}
{{- printf "%s:%s" .sidecar.image.repository (default .appVersion .sidecar.image.tag) }}
{{- end }}

{{/*
The sidecar container, for mode 1 (this chart's Deployment) and mode 2 (your own pod spec).

Call it with a dict:
  values      the chart values holding "sidecar" and "model" (required)
  name        base name of this chart's objects: the ConfigMap "<name>" (required)
  appVersion  default image tag (optional; "latest" when absent)
  deployment  value of the k8s.deployment.name resource attribute (optional)

Example (mode 2, this chart as a dependency named "model-sidecar"):
  containers:
    - name: my-model
      ...
    {{- include "model-sidecar.container" (dict "values" (index .Values "model-sidecar")
          "name" (printf "%s-model-sidecar" .Release.Name)) | nindent 4 }}
*/}}
{{- define "model-sidecar.container" -}}
{{- $s := .values.sidecar -}}
{{- $upstream := default (printf "http://127.0.0.1:%v" .values.model.port) $s.upstream -}}
{{- $attrs := list "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.node.name=$(NODE_NAME)" "k8s.pod.uid=$(POD_UID)" "k8s.container.name=sidecar" -}}
{{- if .deployment -}}
{{- $attrs = append $attrs (printf "k8s.deployment.name=%s" .deployment) -}}
{{- end -}}
{{- range $k, $v := $s.otel.extraResourceAttributes -}}
{{- $attrs = append $attrs (printf "%s=%v" $k $v) -}}
{{- end -}}
- name: sidecar
  image: {{ include "model-sidecar.image" (dict "sidecar" $s "appVersion" (default "latest" .appVersion)) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  args:
    - run
    {{- range $s.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  ports:
    - name: http
      containerPort: {{ $s.port }}
      protocol: TCP
    - name: admin
      containerPort: {{ $s.adminPort }}
      protocol: TCP
  env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    - name: POD_UID
      valueFrom:
        fieldRef:
          fieldPath: metadata.uid
    - name: OTEL_SERVICE_NAME
      value: {{ default .name $s.otel.serviceName | quote }}
    - name: OTEL_RESOURCE_ATTRIBUTES
      value: {{ join "," $attrs | quote }}
    {{- with $s.otel.exporterEndpoint }}
    - name: OTEL_EXPORTER_OTLP_ENDPOINT
      value: {{ . | quote }}
    {{- end }}
    - name: SIDECAR_UPSTREAM
      value: {{ $upstream | quote }}
    - name: SIDECAR_PORT
      value: {{ $s.port | quote }}
    - name: SIDECAR_ADMIN_PORT
      value: {{ $s.adminPort | quote }}
    - name: SIDECAR_ADMIN_HOST
      value: {{ $s.adminHost | quote }}
    - name: SIDECAR_STATE_DIR
      value: {{ $s.stateDir | quote }}
    - name: SIDECAR_LOG_FORMAT
      value: {{ $s.logFormat | quote }}
    - name: SIDECAR_CONFIG
      value: /etc/model-sidecar/sidecar.yaml
    {{- if not (kindIs "invalid" $s.sampleRate) }}
    - name: SIDECAR_SAMPLE_RATE
      value: {{ $s.sampleRate | quote }}
    {{- end }}
    {{- if or $s.reference.profile $s.reference.existingConfigMap }}
    - name: SIDECAR_REFERENCE
      value: {{ printf "/etc/model-sidecar/reference/%s" $s.reference.key | quote }}
    {{- end }}
    {{- if $s.adminToken.existingSecret }}
    - name: SIDECAR_ADMIN_TOKEN_FILE
      value: {{ printf "/var/run/secrets/model-sidecar/%s" $s.adminToken.key | quote }}
    {{- end }}
    {{- with $s.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $s.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $s.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $s.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $s.securityContext | nindent 4 }}
  volumeMounts:
    - name: sidecar-state
      mountPath: {{ $s.stateDir }}
    - name: sidecar-config
      mountPath: /etc/model-sidecar/sidecar.yaml
      subPath: sidecar.yaml
      readOnly: true
    {{- if or $s.reference.profile $s.reference.existingConfigMap }}
    - name: sidecar-reference
      mountPath: /etc/model-sidecar/reference
      readOnly: true
    {{- end }}
    {{- if $s.adminToken.existingSecret }}
    - name: sidecar-admin-token
      mountPath: /var/run/secrets/model-sidecar
      readOnly: true
    {{- end }}
{{- end }}

{{/*
The pod volumes the sidecar container mounts; same dict as "model-sidecar.container".
*/}}
{{- define "model-sidecar.volumes" -}}
{{- $s := .values.sidecar -}}
- name: sidecar-state
  emptyDir:
    {{- with $s.stateVolume.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
- name: sidecar-config
  configMap:
    name: {{ .name }}
    items:
      - key: sidecar.yaml
        path: sidecar.yaml
{{- if $s.reference.existingConfigMap }}
- name: sidecar-reference
  configMap:
    name: {{ $s.reference.existingConfigMap }}
    items:
      - key: {{ $s.reference.key }}
        path: {{ $s.reference.key }}
{{- else if $s.reference.profile }}
- name: sidecar-reference
  configMap:
    name: {{ .name }}
    items:
      - key: reference.json
        path: {{ $s.reference.key }}
{{- end }}
{{- if $s.adminToken.existingSecret }}
- name: sidecar-admin-token
  secret:
    secretName: {{ $s.adminToken.existingSecret }}
    defaultMode: 0444
    items:
      - key: {{ $s.adminToken.key }}
        path: {{ $s.adminToken.key }}
{{- end }}
{{- end }}
