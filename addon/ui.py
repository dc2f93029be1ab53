"""The EmoSpeaker tab in the 3D View sidebar (N panel)."""

from __future__ import annotations

import bpy

from . import backend, bake, emotion, mapping, poses, prefs
from .arkit import ARKIT_BLENDSHAPES, EMOTIONS


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
        draw_backend(col.box(), context)


def draw_backend(box: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """Connected or not (a cached check, see backend.status), and the buttons to fix it."""
    state, text = backend.status(prefs.connection(context))
    icons = {"ok": "CHECKMARK", "down": "ERROR", "checking": "TIME"}
    box.label(text="Backend: " + ("connected" if state == "ok" else state), icon=icons[state])
    for line in _wrap(text, 48):
        box.label(text=line)
    row = box.row(align=True)
    row.operator("emospeaker.check_connection", text="Check", icon="FILE_REFRESH")
    if backend.local_server() is None:
        row.operator("emospeaker.start_backend", icon="PLAY")
    else:
        row.operator("emospeaker.stop_backend", icon="CANCEL")


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


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
        row.prop(settings, "key_exclusive", icon="SOLO_ON")
        holder = emotion.holder(obj)
        if holder is None:
            layout.label(text="No emotion keys yet", icon="INFO")
            return
        col = layout.column(align=True)
        col.label(text=f"At this frame, on '{holder.name}':")
        for name in EMOTIONS:
            col.prop(holder.emospeaker, name, slider=True)
        layout.operator("emospeaker.select_emotion_keys", icon="GRAPH")


class EMOSPEAKER_PT_character(_Panel, bpy.types.Panel):
    """The character's own emotion poses and gains, saved with the face."""

    bl_label = "Character"
    bl_parent_id = "EMOSPEAKER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.emospeaker
        obj = settings.target
        layout = self.layout
        if obj is None:
            layout.label(text="Choose the face first")
            return
        layout.label(text="Own emotion poses (sculpt with shape keys, then store):")
        row = layout.row(align=True)
        row.prop(settings, "key_emotion", text="")
        row.operator("emospeaker.store_pose", icon="ADD")
        row.operator("emospeaker.remove_pose", text="", icon="REMOVE")
        col = layout.column(align=True)
        stored = poses.stored(obj)
        for name in EMOTIONS:
            if name in stored:
                col.label(text=f"{name}: own pose ({len(stored[name])} channels)", icon="CHECKMARK")
        if not stored:
            col.label(text="None stored: the built-in emotions are used")
        col = layout.column(align=True)
        col.label(text="Gains (sent as engine options):")
        for prop in poses.GAINS:
            col.prop(obj.emospeaker, prop, slider=True)
        row = layout.row(align=True)
        row.operator("emospeaker.export_poses", icon="EXPORT")
        row.operator("emospeaker.import_poses", icon="IMPORT")


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
        _draw_head_target(col, settings)
        col.separator()
        row = col.row(align=True)
        row.scale_y = 1.5
        row.operator("emospeaker.generate", icon="PLAY")
        row.operator("emospeaker.render_shot", icon="RENDER_ANIMATION")
        prefs.draw_progress(col)
        row = col.row(align=True)
        row.operator("emospeaker.bake_file", icon="IMPORT")
        row.operator("emospeaker.clear_bake", icon="TRASH")


def _draw_head_target(layout: bpy.types.UILayout, settings) -> None:  # noqa: ANN001
    """Say where head pose will go, as the bake will resolve it."""
    if settings.target is None or settings.head_mode == "NONE":
        return
    try:
        head = mapping.head_target(settings, settings.target)
    except mapping.MappingProblem as exc:
        layout.label(text=str(exc), icon="ERROR")
        return
    for i, line in enumerate(_wrap(f"Head pose goes to {head.reason}", 48)):
        layout.label(text=line, icon="OBJECT_ORIGIN" if i == 0 else "NONE")


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
            # the checkbox shows the layer: ticked = it plays; its label is the layer name
            row.prop(
                track, "mute", text=track.name.removeprefix(bake.TRACK_PREFIX),
                invert_checkbox=True,
            )  # fmt: skip
            for strip in track.strips:
                if strip.use_animated_influence:
                    row.prop(strip, "influence", text=f"@{int(strip.frame_start)}", slider=True)
        layout.label(text="More in the NLA Editor (scale, blend, repeat)", icon="NLA")


class EMOSPEAKER_UL_mapping(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_prop):  # noqa: ANN001, PLR0913
        obj = context.scene.emospeaker.target
        row = layout.row(align=True)
        row.prop(item, "enabled", text=item.channel)
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
            auto = mapping.automatic(obj)
            missing = [
                b.channel for b in auto if b.channel in ARKIT_BLENDSHAPES and not b.shape_key
            ]
            layout.label(text=f"Automatic (by name): {52 - len(missing)} of 52 matched")
            if missing:
                for line in _wrap(
                    "Unmatched: " + ", ".join(missing[:8]) + ("..." if len(missing) > 8 else ""), 48
                ):
                    layout.label(text=line)
            return
        matched = sum(1 for r in state.mapping if r.shape_key)
        layout.label(text=f"{matched} channels go to shape keys (channel, key, gain, offset)")
        missing = [r.channel for r in state.mapping if not r.is_head and not r.shape_key]
        if missing:
            shown = ", ".join(missing[:8]) + (
                f" and {len(missing) - 8} more" if len(missing) > 8 else ""
            )
            for i, line in enumerate(_wrap(f"Unmatched ({len(missing)}): {shown}", 48)):
                layout.label(text=line, icon="ERROR" if i == 0 else "NONE")
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
    EMOSPEAKER_PT_character,
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
