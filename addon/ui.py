"""The EmoSpeaker tab in the 3D View sidebar (N panel)."""

from __future__ import annotations

import bpy

from . import backend, bake, prefs
from .arkit import EMOTIONS


class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "EmoSpeaker"


class EMOSPEAKER_PT_main(_Panel, bpy.types.Panel):
    bl_label = "EmoSpeaker"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.emospeaker
        col = self.layout.column()
        col.prop(settings, "target")
        col.operator("emospeaker.add_head", icon="USER")


class EMOSPEAKER_PT_emotion(_Panel, bpy.types.Panel):
    bl_label = "Emotion"
    bl_parent_id = "EMOSPEAKER_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.emospeaker
        obj = settings.target
        layout = self.layout
        if obj is None:
            layout.label(text="Choose the face first")
            return
        row = layout.row(align=True)
        row.prop(settings, "key_emotion", text="")
        row.prop(settings, "key_intensity", text="")
        row = layout.row(align=True)
        row.operator("emospeaker.key_emotion", icon="KEY_HLT")
        row.prop(settings, "key_exclusive", text="", icon="SOLO_ON")
        col = layout.column(align=True)
        col.label(text="At this frame (edit curves in the Graph Editor):")
        for name in EMOTIONS:
            col.prop(obj.emospeaker, name, slider=True)


class EMOSPEAKER_PT_generate(_Panel, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "EMOSPEAKER_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.emospeaker
        layout = self.layout
        col = layout.column()
        col.prop(settings, "audio_source", expand=True)
        if settings.audio_source == "STRIP":
            col.prop(settings, "sound_strip", icon="SOUND")
        else:
            col.prop(settings, "audio_file")
            col.prop(settings, "file_start")
        col.prop(settings, "transcript")
        col.prop(settings, "transcript_text", text="Text")
        col.prop(settings, "engine")
        col.prop(settings, "options")
        col.prop(settings, "seed")
        col.separator()
        col.prop(settings, "head_mode")
        if settings.head_mode == "OBJECT":
            col.prop(settings, "head_object", text="Object")
        elif settings.head_mode == "BONE":
            col.prop(settings, "head_object", text="Armature")
            col.prop(settings, "head_bone")
        col.separator()
        col.label(text=f"Backend: {prefs.get(context).address}", icon="LINKED")
        row = col.row(align=True)
        row.scale_y = 1.5
        row.operator("emospeaker.generate", icon="PLAY")
        row.operator("emospeaker.render_shot", icon="RENDER_ANIMATION")
        prefs.draw_progress(col)
        row = col.row(align=True)
        row.operator("emospeaker.bake_file", icon="IMPORT")
        row.operator("emospeaker.clear_bake", icon="TRASH")


class EMOSPEAKER_PT_render(_Panel, bpy.types.Panel):
    """What Render Shot makes: a photo render of the portrait, or the built-in head."""

    bl_label = "Render Shot"
    bl_parent_id = "EMOSPEAKER_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.emospeaker
        col = self.layout.column()
        col.prop(settings, "portrait_image", icon="IMAGE_DATA")
        if settings.portrait_image is None:
            col.prop(settings, "portrait_file")
        photo = settings.portrait_image is not None or settings.portrait_file
        col.label(
            text="Renderer: photo (the portrait)" if photo else "Renderer: mesh (built-in head)",
            icon="IMAGE_RGB" if photo else "USER",
        )
        col.row().prop(settings, "render_size", expand=True)
        sub = col.row()
        sub.enabled = bool(photo)
        sub.prop(settings, "face_index")
        col.prop(settings, "render_motion")
        col.prop(settings, "render_folder")
        row = col.row()
        row.scale_y = 1.5
        row.operator("emospeaker.render_shot", icon="RENDER_ANIMATION")


class EMOSPEAKER_PT_layers(_Panel, bpy.types.Panel):
    """Mute or scale each baked layer (its NLA track and strips)."""

    bl_label = "Layers"
    bl_parent_id = "EMOSPEAKER_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        tracks = bake.face_tracks(context.scene.emospeaker.target)
        layout = self.layout
        if not tracks:
            layout.label(text="Nothing baked yet")
            return
        for track in sorted(tracks, key=lambda t: bake.layer_rank(bake.layer_of(t))):
            row = layout.row(align=True)
            row.prop(track, "mute", text="", invert_checkbox=True, icon="HIDE_OFF")
            row.label(text=track.name.removeprefix(bake.TRACK_PREFIX))  # e.g. `lips.001`
            for strip in track.strips:
                if strip.use_animated_influence:
                    row.prop(strip, "influence", text=f"@{int(strip.frame_start)}", slider=True)
        layout.label(text="More in the NLA Editor (scale, blend, repeat)", icon="NLA")


class EMOSPEAKER_UL_mapping(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_prop):  # noqa: ANN001, PLR0913
        obj = context.scene.emospeaker.target
        row = layout.row(align=True)
        row.prop(item, "enabled", text="")
        row.label(text=item.channel)
        if item.is_head:
            row.label(text="head pose", icon="OBJECT_DATA")
        elif obj is not None and obj.data.shape_keys:
            row.prop_search(item, "shape_key", obj.data.shape_keys, "key_blocks", text="")
        else:
            row.prop(item, "shape_key", text="")
        row.prop(item, "gain", text="")
        sub = row.row(align=True)
        sub.enabled = not item.is_head
        sub.prop(item, "offset", text="")


class EMOSPEAKER_PT_mapping(_Panel, bpy.types.Panel):
    bl_label = "Channel Mapping"
    bl_parent_id = "EMOSPEAKER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        obj = context.scene.emospeaker.target
        layout = self.layout
        layout.operator("emospeaker.auto_map", icon="AUTO")
        if obj is None:
            return
        state = obj.emospeaker
        if not len(state.mapping):
            layout.label(text="Automatic (by name) until you press Auto-map")
            return
        matched = sum(1 for r in state.mapping if r.shape_key)
        layout.label(text=f"{matched} channels go to shape keys (channel, key, gain, offset)")
        layout.template_list(
            "EMOSPEAKER_UL_mapping", "", state, "mapping", state, "mapping_index", rows=8
        )


class EMOSPEAKER_PT_export(_Panel, bpy.types.Panel):
    bl_label = "Export"
    bl_parent_id = "EMOSPEAKER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        col = self.layout.column(align=True)
        op = col.operator("emospeaker.export_track", text="Live Link Face CSV", icon="EXPORT")
        op.file_format = "CSV"
        op = col.operator("emospeaker.export_track", text="EmoSpeaker JSON", icon="EXPORT")
        op.file_format = "JSON"
        col.operator("emospeaker.export_gltf", text="glTF (shape-key animation)", icon="EXPORT")
        caps = backend.STATE.capabilities
        if caps is not None:
            self.layout.label(text=f"Backend {caps.version} on {caps.device}")


CLASSES = (
    EMOSPEAKER_PT_main,
    EMOSPEAKER_PT_emotion,
    EMOSPEAKER_PT_generate,
    EMOSPEAKER_PT_render,
    EMOSPEAKER_PT_layers,
    EMOSPEAKER_UL_mapping,
    EMOSPEAKER_PT_mapping,
    EMOSPEAKER_PT_export,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
