/* placeholder */ typedef int placeholder_router;
