"""The preview's lighting, in GLSL: three warm directional lights and an ambient term on
glTF's metallic-roughness model for a white dielectric (GGX distribution, Schlick-Smith
visibility, Schlick Fresnel), tinted by the vertex colour afterwards - how pyrender's shader
lit this head, whose look the preview keeps.

Two programs share it. Matte parts (skin, mouth) are lit per vertex: the head has more
vertices than a preview shows pixels across them, and lighting per pixel cost Mesa's CPU
rasteriser 1.6x the time. Glossy parts (eyes, teeth) are lit per pixel: their highlights are
narrower than their triangles, and they cover few pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import gl
from .gl import GL

# directional lights: (a point on the side the light comes from, intensity)
LIGHTS = (((-0.35, 0.45, 0.6), 4.5), ((0.5, 0.1, 0.35), 2.0), ((0.0, 0.3, -0.6), 2.0))
LIGHT_COLOR = np.array([1.0, 0.98, 0.95])  # warm white
AMBIENT = 0.25
GLOSSY = 0.5  # materials with a roughness below this are lit per pixel

_HEADER = f"""#version 330 core
const int LIGHTS = {len(LIGHTS)};
const float PI = 3.14159265;
"""

_SHADE = """
uniform vec3 eye;
uniform vec3 ambient;
uniform vec3 light_direction[LIGHTS];  // unit, towards the light
uniform vec3 light_radiance[LIGHTS];

vec3 shade(vec3 p, vec3 n, vec4 albedo_roughness) {
    float roughness = albedo_roughness.a;
    vec3 v = normalize(eye - p);
    float a2 = roughness * roughness * roughness * roughness;
    float k = (roughness + 1.0) * (roughness + 1.0) / 8.0;
    float nv = clamp(abs(dot(n, v)), 0.001, 1.0);
    vec3 light = ambient;
    for (int i = 0; i < LIGHTS; i++) {
        vec3 l = light_direction[i];
        vec3 h = normalize(l + v);
        float nl = clamp(dot(n, l), 0.001, 1.0);
        float nh = clamp(dot(n, h), 0.0, 1.0);
        float fresnel = 0.04 + 0.96 * pow(1.0 - clamp(dot(v, h), 0.0, 1.0), 5.0);
        float visibility = nv / (nv * (1.0 - k) + k) * nl / (nl * (1.0 - k) + k);
        float d = nh * nh * (a2 - 1.0) + 1.0;
        float specular = fresnel * visibility * a2 / (PI * d * d) / (4.0 * nl * nv + 0.001);
        float diffuse = (1.0 - fresnel) * 0.96 / PI;
        light += nl * light_radiance[i] * (diffuse + specular);
    }
    return light * albedo_roughness.rgb;
}
"""

_ATTRIBUTES = """
layout(location = 0) in vec3 position;
layout(location = 1) in vec3 normal;
layout(location = 2) in vec4 albedo_roughness;  // linear RGB, roughness
uniform mat4 model;  // rigid, so its 3x3 turns normals too
uniform mat4 view_projection;
"""

_DISPLAY = (
    "vec4 display(vec3 linear) { return vec4(pow(clamp(linear, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0); }"
)

_PER_VERTEX = (
    _HEADER
    + _ATTRIBUTES
    + _SHADE
    + """
out vec3 radiance;
void main() {
    vec4 world = model * vec4(position, 1.0);
    radiance = shade(world.xyz, normalize(mat3(model) * normal), albedo_roughness);
    gl_Position = view_projection * world;
}
""",
    _HEADER
    + _DISPLAY
    + """
in vec3 radiance;
out vec4 color;
void main() { color = display(radiance); }
""",
)

_PER_PIXEL = (
    _HEADER
    + _ATTRIBUTES
    + """
out vec3 world_position;
out vec3 world_normal;
out vec4 material;
void main() {
    vec4 world = model * vec4(position, 1.0);
    world_position = world.xyz;
    world_normal = mat3(model) * normal;
    material = albedo_roughness;
    gl_Position = view_projection * world;
}
""",
    _HEADER
    + _SHADE
    + _DISPLAY
    + """
in vec3 world_position;
in vec3 world_normal;
in vec4 material;
out vec4 color;
void main() { color = display(shade(world_position, normalize(world_normal), material)); }
""",
)


@dataclass(frozen=True)
class Program:
    id: int
    model: int  # location of the `model` matrix, set per draw

    def use(self, model: np.ndarray) -> None:
        GL.glUseProgram(self.id)
        GL.glUniformMatrix4fv(self.model, 1, GL.GL_TRUE, np.asarray(model, np.float32))


def programs(eye: np.ndarray, view_projection: np.ndarray) -> dict[bool, Program]:
    """{per_pixel: Program} for the current context, with the camera and the lights set."""
    towards = np.array([p for p, _ in LIGHTS])
    uniforms = {
        "view_projection": view_projection,
        "eye": eye,
        "ambient": np.full(3, AMBIENT),
        "light_direction": towards / np.linalg.norm(towards, axis=1, keepdims=True),
        "light_radiance": np.array([i for _, i in LIGHTS])[:, None] * LIGHT_COLOR,
    }
    out = {}
    for per_pixel, sources in ((False, _PER_VERTEX), (True, _PER_PIXEL)):
        program = gl.program(*sources)
        GL.glUseProgram(program)
        for name, value in uniforms.items():
            location = GL.glGetUniformLocation(program, name)
            value = np.asarray(value, np.float32)
            if value.shape == (4, 4):
                GL.glUniformMatrix4fv(location, 1, GL.GL_TRUE, value)
            else:
                GL.glUniform3fv(location, value.size // 3, value)
        out[per_pixel] = Program(program, GL.glGetUniformLocation(program, "model"))
    return out
