/* placeholder */ typedef int placeholder_health;
