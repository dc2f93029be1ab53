"""The add-on's data: eight animatable emotion intensities and the channel mapping on the target
object, and the Generate settings on the scene. All of it saves with the .blend file."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import backend, compat
from .arkit import EMOTIONS, HEAD_CHANNELS, MAX_INTENSITY

EMOTION_ITEMS = tuple((e, e.capitalize(), f"Key {e}") for e in EMOTIONS)  # enum items


def _emotion(name: str) -> FloatProperty:
    return FloatProperty(
        name=name.capitalize(),
        description=f"Intensity of {name}: 0 none, 1 the strongest trained level (animatable)",
        min=0.0,
        max=MAX_INTENSITY,
        soft_max=1.0,
        options={"ANIMATABLE"},
    )


class ChannelBinding(bpy.types.PropertyGroup):
    """One row of the mapping: a FaceTrack channel, the shape key it drives, gain and offset."""

    channel: StringProperty(name="Channel", description="FaceTrack channel (ARKit name)")
    shape_key: StringProperty(
        name="Shape Key", description="Shape key that receives the channel (empty: none)"
    )
    gain: FloatProperty(name="Gain", default=1.0, soft_min=-2.0, soft_max=2.0)
    offset: FloatProperty(
        name="Offset", default=0.0, soft_min=-1.0, soft_max=1.0, description="Added at rest"
    )
    enabled: BoolProperty(name="Enabled", default=True)

    @property
    def is_head(self) -> bool:
        return self.channel in HEAD_CHANNELS


# Eight floats named after the categories, in the backend's order (curves are sent that way).
_ObjectAnnotations = {name: _emotion(name) for name in EMOTIONS}
_ObjectAnnotations.update(
    mapping=CollectionProperty(type=ChannelBinding),
    mapping_index=IntProperty(),
)
EmotionState = type(
    "EmotionState",
    (bpy.types.PropertyGroup,),
    {
        "__doc__": "Emotion intensities (animatable) and the channel mapping of one object.",
        "__annotations__": _ObjectAnnotations,
    },
)


def _sound_strips(self, context, edit_text):  # noqa: ANN001 - Blender's search callback
    return [s.name for s in compat.sequencer_strips(context.scene) if s.type == "SOUND"]


def _engines(self, context, edit_text):  # noqa: ANN001
    return backend.engine_names()


def _bones(self, context, edit_text):  # noqa: ANN001
    arm = self.head_object
    return [b.name for b in arm.data.bones] if arm and arm.type == "ARMATURE" else []


def _is_mesh(self, obj) -> bool:  # noqa: ANN001
    return obj.type == "MESH"


class SceneSettings(bpy.types.PropertyGroup):
    """What Generate and Render Shot use: target, audio, transcript, engine, head target,
    portrait and render choices, keying choice."""

    target: PointerProperty(
        type=bpy.types.Object,
        name="Face",
        description="Mesh whose shape keys receive the animation (and which holds the emotions)",
        poll=_is_mesh,
    )
    audio_source: EnumProperty(
        name="Audio",
        items=(
            ("STRIP", "Sound Strip", "A sound strip of the Sequencer, at its start frame"),
            ("FILE", "File", "A sound file, starting at the frame below"),
        ),
        default="STRIP",
    )
    sound_strip: StringProperty(
        name="Strip", description="Sound strip with the dialogue", search=_sound_strips
    )
    audio_file: StringProperty(name="File", subtype="FILE_PATH")
    file_start: IntProperty(
        name="Start Frame", default=1, description="Timeline frame where the file's sound begins"
    )
    transcript: StringProperty(
        name="Transcript", description="What is said (optional: improves lip-sync timing)"
    )
    transcript_text: PointerProperty(
        type=bpy.types.Text,
        name="Transcript Text",
        description="Text datablock with the transcript (wins over the line above)",
    )
    engine: StringProperty(name="Engine", default="default", search=_engines)
    options: StringProperty(
        name="Options", description="Engine options as name=value, separated by commas"
    )
    seed: IntProperty(name="Seed", default=0, min=0)
    head_mode: EnumProperty(
        name="Head Pose",
        items=(
            ("OBJECT", "Object", "Turn an object (its delta transform): the head's pivot, or "
             "the face itself"),
            ("BONE", "Bone", "Turn a bone of an armature"),
            ("NONE", "None", "Do not bake head pose"),
        ),
        default="OBJECT",
    )  # fmt: skip
    head_object: PointerProperty(
        type=bpy.types.Object,
        name="Head",
        description="Object to turn (empty: the face), or the armature with the head bone",
    )
    head_bone: StringProperty(name="Bone", default="head", search=_bones)
    portrait_image: PointerProperty(
        type=bpy.types.Image,
        name="Portrait",
        description="Photo to animate (its file is sent; wins over the file below). None: "
        "the built-in head",
    )
    portrait_file: StringProperty(
        name="Portrait File",
        subtype="FILE_PATH",
        description="Photo to animate (jpg, png); empty: render the built-in head",
    )
    render_size: EnumProperty(
        name="Size",
        items=(
            ("256", "256", "256x256 around the face (fast)"),
            ("512", "512", "512x512 around the face"),
            ("FULL", "Full", "The whole portrait at its own size"),
        ),
        default="512",
    )
    face_index: IntProperty(
        name="Face",
        default=-1,
        min=-1,
        description="Which face of the portrait, 0 = leftmost (-1: the only one)",
    )
    render_motion: EnumProperty(
        name="Motion",
        items=(
            ("BAKED", "Baked Animation", "What the face does on screen over the shot, with "
             "your edits (a new animation when nothing is baked there)"),
            ("GENERATE", "New Animation", "Animate the dialogue afresh with the settings above"),
        ),
        default="BAKED",
    )  # fmt: skip
    render_folder: StringProperty(
        name="Folder",
        subtype="DIR_PATH",
        default="//renders/",
        description="Where the video goes, as <shot name>.mp4 (a file not yet saved uses the "
        "add-on's user folder)",
    )
    key_emotion: EnumProperty(
        name="Emotion",
        items=EMOTION_ITEMS,
        default="happy",
    )
    key_intensity: FloatProperty(
        name="Intensity", default=1.0, min=0.0, max=MAX_INTENSITY, soft_max=1.0
    )
    key_exclusive: BoolProperty(
        name="Only This Emotion",
        default=True,
        description="Set the other seven to 0 in the key (off: keep their current values)",
    )


CLASSES = (ChannelBinding, EmotionState, SceneSettings)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.emospeaker = PointerProperty(type=EmotionState)
    bpy.types.Scene.emospeaker = PointerProperty(type=SceneSettings)


def unregister() -> None:
    del bpy.types.Scene.emospeaker
    del bpy.types.Object.emospeaker
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
