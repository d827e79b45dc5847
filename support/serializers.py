from rest_framework import serializers

from .models import Attachment, Category, Message, Priority, Ticket, TicketEvent

AGENT_CHANNELS = [("phone", "Phone"), ("email", "Email"), ("api", "API")]  # how an agent heard of it


class TicketCreateSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=20_000)
    category = serializers.ChoiceField(choices=Category.choices, required=False, default=Category.OTHER)
    order = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    order_line = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    shipment = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    return_request = serializers.CharField(max_length=20, required=False, allow_blank=True, default="",
                                           help_text="A return number.")
    serial = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    # agents only (a phone call, an email forwarded by hand)
    email = serializers.EmailField(required=False, allow_blank=True, default="",
                                   help_text="Agents: the customer's address.")
    priority = serializers.ChoiceField(choices=Priority.choices, required=False, default=Priority.NORMAL,
                                       help_text="Agents only; customers' tickets start at normal.")
    channel = serializers.ChoiceField(choices=AGENT_CHANNELS,
                                      required=False, default="api", help_text="Agents only.")


class MessageCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=20_000)
    attachments = serializers.ListField(child=serializers.FileField(), required=False, max_length=5,
                                        help_text="multipart/form-data: PDF, images or text, 10 MB each.")
    internal = serializers.BooleanField(required=False, default=False, help_text="Agents: an internal note.")
    then = serializers.ChoiceField(choices=["open", "waiting", "solved"], required=False, allow_null=True,
                                   default=None, help_text="Agents: the status after the message.")


class TicketTransitionSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AssignSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(min_value=1, allow_null=True, help_text="A user id; null to unassign.")


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size"]


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "internal", "from_customer", "author", "source", "body", "attachments", "created_at"]

    def get_author(self, obj) -> str:
        if obj.from_customer:
            return "you" if not self.context.get("agent") else (obj.ticket.name or obj.ticket.email)
        if not self.context.get("agent"):
            return "Customer service"  # agents' names stay inside
        return obj.author.get_username() if obj.author_id else "system"


class TicketEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TicketEvent
        fields = ["kind", "from_status", "to_status", "text", "internal", "created_at"]


class TicketListSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number", default="")
    assignee = serializers.CharField(source="assignee.username", default="")
    status_display = serializers.CharField(source="get_status_display")

    class Meta:
        model = Ticket
        fields = ["number", "subject", "status", "status_display", "category", "priority", "channel", "order",
                  "assignee", "first_response_due", "resolution_due", "created_at", "updated_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("agent"):
            for key in ("assignee", "first_response_due", "resolution_due"):
                data.pop(key)
        return data


class TicketDetailSerializer(TicketListSerializer):
    messages = MessageSerializer(many=True, read_only=True)
    timeline = TicketEventSerializer(source="events", many=True, read_only=True)
    return_request = serializers.CharField(source="return_request.number", default="")
    merged_into = serializers.CharField(source="merged_into.number", default="")
    follow_up_of = serializers.CharField(source="follow_up_of.number", default="")

    class Meta(TicketListSerializer.Meta):
        fields = TicketListSerializer.Meta.fields + ["serial", "return_request", "merged_into", "follow_up_of",
                                                     "messages", "timeline"]
