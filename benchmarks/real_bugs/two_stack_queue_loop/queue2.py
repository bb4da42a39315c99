class Queue:
    """A FIFO queue made of two stacks."""

    def __init__(self):
        self.inbox = []
        self.outbox = []

    def push(self, value):
        self.inbox.append(value)

    def pop(self):
        if not self.outbox:
            while self.inbox:
                self.outbox.append(self.inbox[-1])
        if not self.outbox:
            raise IndexError("pop from empty queue")
        return self.outbox.pop()

    def __len__(self):
        return len(self.inbox) + len(self.outbox)

    def size(self):
        return len(self)
